"""gRPC server reflection, both versions (docs/protocol.md, "Discovery and health").

grpcurl, Postman and the gRPC tooling of other languages ask ``grpc.reflection.v1`` first; older
ones ask ``grpc.reflection.v1alpha``. grpcio-reflection serves only v1alpha, and the two
versions are the same messages under another package name, so one servicer answers both:
v1alpha as grpcio-reflection registers it, v1 through a generic handler that reads and writes
the same bytes. The v1 file is added to the default descriptor pool (built from the v1alpha
one, renamed) so that reflection can describe itself under either name.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

__all__ = ["V1", "V1ALPHA", "enable_reflection"]

V1ALPHA = reflection.SERVICE_NAME
V1 = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"
_OLD, _NEW = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."


def enable_reflection(server: grpc.Server, services: Iterable[str]) -> None:
    """Serve reflection v1 and v1alpha on ``server``, listing ``services`` and both
    reflection services."""
    _register_v1_file()
    servicer = reflection.ReflectionServicer([*services, V1, V1ALPHA])
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]  # v1alpha
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1, {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString),
    }),))


def _register_v1_file() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = _V1_FILE, "grpc.reflection.v1"
    proto.ClearField("options")
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(_OLD):
                field.type_name = _NEW + field.type_name[len(_OLD):]
    for service in proto.service:
        for method in service.method:
            method.input_type = _NEW + method.input_type[len(_OLD):]
            method.output_type = _NEW + method.output_type[len(_OLD):]
    pool.AddSerializedFile(proto.SerializeToString())
