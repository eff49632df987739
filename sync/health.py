"""Asking a server whether it serves: the standard gRPC health service, from the client side
(``bianmin hub health``, ``bianmin township health``, monitoring scripts).

Every bianmin server answers ``grpc.health.v1.Health``: on the sync port (mutual TLS: the
caller needs a certificate of the county CA) and, at the hub, on the enrolment port as well
(server TLS: no client certificate, for load balancers and monitoring boxes). A server reports
``SERVING`` while it takes calls and ``NOT_SERVING`` while it drains before stopping.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2

from sync.client import translate_rpc_error
from sync.tls import CHANNEL_OPTIONS

__all__ = ["check_health"]

_NAMES = {value: name for name, value in health_pb2.HealthCheckResponse.ServingStatus.items()}


def check_health(address: str, credentials: grpc.ChannelCredentials, *, expected_node_id: str,
                 service: str = "", timeout_s: float = 5.0) -> str:
    """The status the server at ``address`` reports for ``service`` (``""``: the server as a
    whole): ``SERVING``, ``NOT_SERVING``, ``SERVICE_UNKNOWN`` or ``UNKNOWN``. Raises
    ``Unreachable`` (or ``CallRefused``) when it does not answer."""
    options = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", expected_node_id)]
    with grpc.secure_channel(address, credentials, options=options) as channel:
        check = channel.unary_unary(
            f"/{health.SERVICE_NAME}/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString)
        try:
            reply = check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:
            if isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise translate_rpc_error(exc, address, "server") from exc
    return _NAMES.get(reply.status, "UNKNOWN")
