from . import records_pb2 as _records_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_STATUS_UNSPECIFIED: _ClassVar[RecordStatus]
    RECORD_STATUS_ACCEPTED: _ClassVar[RecordStatus]
    RECORD_STATUS_ALREADY_HAD: _ClassVar[RecordStatus]
    RECORD_STATUS_REFUSED: _ClassVar[RecordStatus]
RECORD_STATUS_UNSPECIFIED: RecordStatus
RECORD_STATUS_ACCEPTED: RecordStatus
RECORD_STATUS_ALREADY_HAD: RecordStatus
RECORD_STATUS_REFUSED: RecordStatus

class BlobStatusRequest(_message.Message):
    __slots__ = ("sha256", "log_id")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    sha256: _containers.RepeatedScalarFieldContainer[bytes]
    log_id: str
    def __init__(self, sha256: _Optional[_Iterable[bytes]] = ..., log_id: _Optional[str] = ...) -> None: ...

class BlobState(_message.Message):
    __slots__ = ("sha256", "size", "received", "complete")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    sha256: bytes
    size: int
    received: int
    complete: bool
    def __init__(self, sha256: _Optional[bytes] = ..., size: _Optional[int] = ..., received: _Optional[int] = ..., complete: _Optional[bool] = ...) -> None: ...

class BlobStatusReply(_message.Message):
    __slots__ = ("blobs",)
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    blobs: _containers.RepeatedCompositeFieldContainer[BlobState]
    def __init__(self, blobs: _Optional[_Iterable[_Union[BlobState, _Mapping]]] = ...) -> None: ...

class BlobChunk(_message.Message):
    __slots__ = ("sha256", "size", "offset", "data", "log_id")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    sha256: bytes
    size: int
    offset: int
    data: bytes
    log_id: str
    def __init__(self, sha256: _Optional[bytes] = ..., size: _Optional[int] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., log_id: _Optional[str] = ...) -> None: ...

class PushRequest(_message.Message):
    __slots__ = ("log_id", "records", "heartbeat", "certificates", "heartbeat_received_at_ms")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_RECEIVED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    log_id: str
    records: _containers.RepeatedCompositeFieldContainer[_records_pb2.SignedRecord]
    heartbeat: _records_pb2.SignedRecord
    certificates: _containers.RepeatedScalarFieldContainer[bytes]
    heartbeat_received_at_ms: int
    def __init__(self, log_id: _Optional[str] = ..., records: _Optional[_Iterable[_Union[_records_pb2.SignedRecord, _Mapping]]] = ..., heartbeat: _Optional[_Union[_records_pb2.SignedRecord, _Mapping]] = ..., certificates: _Optional[_Iterable[bytes]] = ..., heartbeat_received_at_ms: _Optional[int] = ...) -> None: ...

class RecordResult(_message.Message):
    __slots__ = ("seq", "status", "reason_code", "message")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    status: RecordStatus
    reason_code: str
    message: str
    def __init__(self, seq: _Optional[int] = ..., status: _Optional[_Union[RecordStatus, str]] = ..., reason_code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class PushReply(_message.Message):
    __slots__ = ("committed_seq", "results")
    COMMITTED_SEQ_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    committed_seq: int
    results: _containers.RepeatedCompositeFieldContainer[RecordResult]
    def __init__(self, committed_seq: _Optional[int] = ..., results: _Optional[_Iterable[_Union[RecordResult, _Mapping]]] = ...) -> None: ...

class LogCursor(_message.Message):
    __slots__ = ("log_id", "after_seq")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    log_id: str
    after_seq: int
    def __init__(self, log_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class PullRequest(_message.Message):
    __slots__ = ("cursors", "follow_s")
    CURSORS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_S_FIELD_NUMBER: _ClassVar[int]
    cursors: _containers.RepeatedCompositeFieldContainer[LogCursor]
    follow_s: int
    def __init__(self, cursors: _Optional[_Iterable[_Union[LogCursor, _Mapping]]] = ..., follow_s: _Optional[int] = ...) -> None: ...

class PullReply(_message.Message):
    __slots__ = ("records", "certificates", "cursors")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    CURSORS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_records_pb2.SignedRecord]
    certificates: _containers.RepeatedScalarFieldContainer[bytes]
    cursors: _containers.RepeatedCompositeFieldContainer[LogCursor]
    def __init__(self, records: _Optional[_Iterable[_Union[_records_pb2.SignedRecord, _Mapping]]] = ..., certificates: _Optional[_Iterable[bytes]] = ..., cursors: _Optional[_Iterable[_Union[LogCursor, _Mapping]]] = ...) -> None: ...

class RotateKeyRequest(_message.Message):
    __slots__ = ("records_csr", "node_id", "authorization")
    RECORDS_CSR_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    records_csr: bytes
    node_id: str
    authorization: bytes
    def __init__(self, records_csr: _Optional[bytes] = ..., node_id: _Optional[str] = ..., authorization: _Optional[bytes] = ...) -> None: ...

class RotateKeyReply(_message.Message):
    __slots__ = ("records_certificate",)
    RECORDS_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    records_certificate: bytes
    def __init__(self, records_certificate: _Optional[bytes] = ...) -> None: ...

class EnrolRequest(_message.Message):
    __slots__ = ("token", "node_id", "records_csr", "tls_csr", "replace_keys")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_CSR_FIELD_NUMBER: _ClassVar[int]
    TLS_CSR_FIELD_NUMBER: _ClassVar[int]
    REPLACE_KEYS_FIELD_NUMBER: _ClassVar[int]
    token: str
    node_id: str
    records_csr: bytes
    tls_csr: bytes
    replace_keys: bool
    def __init__(self, token: _Optional[str] = ..., node_id: _Optional[str] = ..., records_csr: _Optional[bytes] = ..., tls_csr: _Optional[bytes] = ..., replace_keys: _Optional[bool] = ...) -> None: ...

class EnrolReply(_message.Message):
    __slots__ = ("records_certificate", "tls_certificate", "ca_certificate", "upstream_certificates", "county_code", "tier", "upstream_node_id", "name", "key_replacement")
    RECORDS_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    TLS_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    COUNTY_CODE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_REPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    records_certificate: bytes
    tls_certificate: bytes
    ca_certificate: bytes
    upstream_certificates: _containers.RepeatedScalarFieldContainer[bytes]
    county_code: str
    tier: str
    upstream_node_id: str
    name: str
    key_replacement: KeyReplacementGrant
    def __init__(self, records_certificate: _Optional[bytes] = ..., tls_certificate: _Optional[bytes] = ..., ca_certificate: _Optional[bytes] = ..., upstream_certificates: _Optional[_Iterable[bytes]] = ..., county_code: _Optional[str] = ..., tier: _Optional[str] = ..., upstream_node_id: _Optional[str] = ..., name: _Optional[str] = ..., key_replacement: _Optional[_Union[KeyReplacementGrant, _Mapping]] = ...) -> None: ...

class KeyReplacementGrant(_message.Message):
    __slots__ = ("after_seq", "prev_hash", "authorization", "hub_key_id", "reason")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    HUB_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    prev_hash: bytes
    authorization: bytes
    hub_key_id: bytes
    reason: str
    def __init__(self, after_seq: _Optional[int] = ..., prev_hash: _Optional[bytes] = ..., authorization: _Optional[bytes] = ..., hub_key_id: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...
