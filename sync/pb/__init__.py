"""Generated protobuf and gRPC code for package bianmin.v1. Do not edit: run make proto."""
