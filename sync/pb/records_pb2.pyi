from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_APPROVE: _ClassVar[Outcome]
    OUTCOME_REJECT: _ClassVar[Outcome]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_APPROVE: Outcome
OUTCOME_REJECT: Outcome

class SignedRecord(_message.Message):
    __slots__ = ("body", "signature")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signature: bytes
    def __init__(self, body: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class RecordBody(_message.Message):
    __slots__ = ("format", "log_id", "seq", "prev_hash", "recorded_at_ms", "key_id", "case_submitted", "pre_reviewed", "supplemented", "withdrawn", "concluded", "decision", "accepted", "not_accepted", "supplement_requested", "opinion", "action_refused", "decision_confirmed", "catalog_published", "node_revoked", "key_rotated", "delegation", "delegation_withdrawn", "calendar_published", "key_replaced")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    PRE_REVIEWED_FIELD_NUMBER: _ClassVar[int]
    SUPPLEMENTED_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    CONCLUDED_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    NOT_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    SUPPLEMENT_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    OPINION_FIELD_NUMBER: _ClassVar[int]
    ACTION_REFUSED_FIELD_NUMBER: _ClassVar[int]
    DECISION_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    CATALOG_PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    NODE_REVOKED_FIELD_NUMBER: _ClassVar[int]
    KEY_ROTATED_FIELD_NUMBER: _ClassVar[int]
    DELEGATION_FIELD_NUMBER: _ClassVar[int]
    DELEGATION_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    CALENDAR_PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    KEY_REPLACED_FIELD_NUMBER: _ClassVar[int]
    format: int
    log_id: str
    seq: int
    prev_hash: bytes
    recorded_at_ms: int
    key_id: bytes
    case_submitted: CaseSubmitted
    pre_reviewed: PreReviewed
    supplemented: Supplemented
    withdrawn: Withdrawn
    concluded: Concluded
    decision: Decision
    accepted: Accepted
    not_accepted: NotAccepted
    supplement_requested: SupplementRequested
    opinion: Opinion
    action_refused: ActionRefused
    decision_confirmed: DecisionConfirmed
    catalog_published: CatalogPublished
    node_revoked: NodeRevoked
    key_rotated: KeyRotated
    delegation: Delegation
    delegation_withdrawn: DelegationWithdrawn
    calendar_published: CalendarPublished
    key_replaced: KeyReplaced
    def __init__(self, format: _Optional[int] = ..., log_id: _Optional[str] = ..., seq: _Optional[int] = ..., prev_hash: _Optional[bytes] = ..., recorded_at_ms: _Optional[int] = ..., key_id: _Optional[bytes] = ..., case_submitted: _Optional[_Union[CaseSubmitted, _Mapping]] = ..., pre_reviewed: _Optional[_Union[PreReviewed, _Mapping]] = ..., supplemented: _Optional[_Union[Supplemented, _Mapping]] = ..., withdrawn: _Optional[_Union[Withdrawn, _Mapping]] = ..., concluded: _Optional[_Union[Concluded, _Mapping]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., accepted: _Optional[_Union[Accepted, _Mapping]] = ..., not_accepted: _Optional[_Union[NotAccepted, _Mapping]] = ..., supplement_requested: _Optional[_Union[SupplementRequested, _Mapping]] = ..., opinion: _Optional[_Union[Opinion, _Mapping]] = ..., action_refused: _Optional[_Union[ActionRefused, _Mapping]] = ..., decision_confirmed: _Optional[_Union[DecisionConfirmed, _Mapping]] = ..., catalog_published: _Optional[_Union[CatalogPublished, _Mapping]] = ..., node_revoked: _Optional[_Union[NodeRevoked, _Mapping]] = ..., key_rotated: _Optional[_Union[KeyRotated, _Mapping]] = ..., delegation: _Optional[_Union[Delegation, _Mapping]] = ..., delegation_withdrawn: _Optional[_Union[DelegationWithdrawn, _Mapping]] = ..., calendar_published: _Optional[_Union[CalendarPublished, _Mapping]] = ..., key_replaced: _Optional[_Union[KeyReplaced, _Mapping]] = ...) -> None: ...

class Applicant(_message.Message):
    __slots__ = ("name", "id_number", "phone")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    name: str
    id_number: str
    phone: str
    def __init__(self, name: _Optional[str] = ..., id_number: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class Material(_message.Message):
    __slots__ = ("code", "sha256", "size", "filename")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    code: str
    sha256: bytes
    size: int
    filename: str
    def __init__(self, code: _Optional[str] = ..., sha256: _Optional[bytes] = ..., size: _Optional[int] = ..., filename: _Optional[str] = ...) -> None: ...

class FieldValue(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class CaseSubmitted(_message.Message):
    __slots__ = ("case_id", "item_code", "applicant", "materials", "fields", "catalog_version", "catalog_hash")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_CODE_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_HASH_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    item_code: str
    applicant: Applicant
    materials: _containers.RepeatedCompositeFieldContainer[Material]
    fields: _containers.RepeatedCompositeFieldContainer[FieldValue]
    catalog_version: int
    catalog_hash: bytes
    def __init__(self, case_id: _Optional[str] = ..., item_code: _Optional[str] = ..., applicant: _Optional[_Union[Applicant, _Mapping]] = ..., materials: _Optional[_Iterable[_Union[Material, _Mapping]]] = ..., fields: _Optional[_Iterable[_Union[FieldValue, _Mapping]]] = ..., catalog_version: _Optional[int] = ..., catalog_hash: _Optional[bytes] = ...) -> None: ...

class PreReviewed(_message.Message):
    __slots__ = ("case_id", "complete", "missing", "catalog_version", "catalog_hash")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_HASH_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    complete: bool
    missing: _containers.RepeatedScalarFieldContainer[str]
    catalog_version: int
    catalog_hash: bytes
    def __init__(self, case_id: _Optional[str] = ..., complete: _Optional[bool] = ..., missing: _Optional[_Iterable[str]] = ..., catalog_version: _Optional[int] = ..., catalog_hash: _Optional[bytes] = ...) -> None: ...

class Supplemented(_message.Message):
    __slots__ = ("case_id", "materials", "complete", "missing")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    materials: _containers.RepeatedCompositeFieldContainer[Material]
    complete: bool
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, case_id: _Optional[str] = ..., materials: _Optional[_Iterable[_Union[Material, _Mapping]]] = ..., complete: _Optional[bool] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class Withdrawn(_message.Message):
    __slots__ = ("case_id", "reason")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    reason: str
    def __init__(self, case_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Concluded(_message.Message):
    __slots__ = ("case_id", "note")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    note: str
    def __init__(self, case_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class Accepted(_message.Message):
    __slots__ = ("case_id", "operator", "department")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    operator: str
    department: str
    def __init__(self, case_id: _Optional[str] = ..., operator: _Optional[str] = ..., department: _Optional[str] = ...) -> None: ...

class NotAccepted(_message.Message):
    __slots__ = ("case_id", "reason", "operator", "department")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    reason: str
    operator: str
    department: str
    def __init__(self, case_id: _Optional[str] = ..., reason: _Optional[str] = ..., operator: _Optional[str] = ..., department: _Optional[str] = ...) -> None: ...

class SupplementRequested(_message.Message):
    __slots__ = ("case_id", "materials", "reason", "operator", "department")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    materials: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    operator: str
    department: str
    def __init__(self, case_id: _Optional[str] = ..., materials: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., operator: _Optional[str] = ..., department: _Optional[str] = ...) -> None: ...

class Opinion(_message.Message):
    __slots__ = ("case_id", "department", "favourable", "reason", "operator")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    FAVOURABLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    department: str
    favourable: bool
    reason: str
    operator: str
    def __init__(self, case_id: _Optional[str] = ..., department: _Optional[str] = ..., favourable: _Optional[bool] = ..., reason: _Optional[str] = ..., operator: _Optional[str] = ...) -> None: ...

class ActionRefused(_message.Message):
    __slots__ = ("case_id", "refused_log_id", "refused_seq", "reason")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    REFUSED_LOG_ID_FIELD_NUMBER: _ClassVar[int]
    REFUSED_SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    refused_log_id: str
    refused_seq: int
    reason: str
    def __init__(self, case_id: _Optional[str] = ..., refused_log_id: _Optional[str] = ..., refused_seq: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class DecisionConfirmed(_message.Message):
    __slots__ = ("case_id", "decision_log_id", "decision_seq", "decision_hash")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_LOG_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_SEQ_FIELD_NUMBER: _ClassVar[int]
    DECISION_HASH_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    decision_log_id: str
    decision_seq: int
    decision_hash: bytes
    def __init__(self, case_id: _Optional[str] = ..., decision_log_id: _Optional[str] = ..., decision_seq: _Optional[int] = ..., decision_hash: _Optional[bytes] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("case_id", "outcome", "reason", "operator", "department", "verification_code", "delegation")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_CODE_FIELD_NUMBER: _ClassVar[int]
    DELEGATION_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    outcome: Outcome
    reason: str
    operator: str
    department: str
    verification_code: str
    delegation: bytes
    def __init__(self, case_id: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., reason: _Optional[str] = ..., operator: _Optional[str] = ..., department: _Optional[str] = ..., verification_code: _Optional[str] = ..., delegation: _Optional[bytes] = ...) -> None: ...

class Delegation(_message.Message):
    __slots__ = ("township", "items", "valid_from_ms", "valid_until_ms", "catalog_version", "operator")
    TOWNSHIP_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    township: str
    items: _containers.RepeatedScalarFieldContainer[str]
    valid_from_ms: int
    valid_until_ms: int
    catalog_version: int
    operator: str
    def __init__(self, township: _Optional[str] = ..., items: _Optional[_Iterable[str]] = ..., valid_from_ms: _Optional[int] = ..., valid_until_ms: _Optional[int] = ..., catalog_version: _Optional[int] = ..., operator: _Optional[str] = ...) -> None: ...

class DelegationWithdrawn(_message.Message):
    __slots__ = ("township", "reason", "operator")
    TOWNSHIP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    township: str
    reason: str
    operator: str
    def __init__(self, township: _Optional[str] = ..., reason: _Optional[str] = ..., operator: _Optional[str] = ...) -> None: ...

class CalendarPublished(_message.Message):
    __slots__ = ("name", "holidays", "workdays")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOLIDAYS_FIELD_NUMBER: _ClassVar[int]
    WORKDAYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    holidays: _containers.RepeatedScalarFieldContainer[str]
    workdays: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., holidays: _Optional[_Iterable[str]] = ..., workdays: _Optional[_Iterable[str]] = ...) -> None: ...

class NodeRevoked(_message.Message):
    __slots__ = ("node_id", "from_seq", "reason", "operator")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    from_seq: int
    reason: str
    operator: str
    def __init__(self, node_id: _Optional[str] = ..., from_seq: _Optional[int] = ..., reason: _Optional[str] = ..., operator: _Optional[str] = ...) -> None: ...

class KeyRotated(_message.Message):
    __slots__ = ("new_certificate",)
    NEW_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    new_certificate: bytes
    def __init__(self, new_certificate: _Optional[bytes] = ...) -> None: ...

class KeyReplaced(_message.Message):
    __slots__ = ("new_certificate", "authorization", "hub_key_id", "reason")
    NEW_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    HUB_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    new_certificate: bytes
    authorization: bytes
    hub_key_id: bytes
    reason: str
    def __init__(self, new_certificate: _Optional[bytes] = ..., authorization: _Optional[bytes] = ..., hub_key_id: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("node_id", "head_seq", "head_hash", "sent_at_ms", "key_id")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    head_seq: int
    head_hash: bytes
    sent_at_ms: int
    key_id: bytes
    def __init__(self, node_id: _Optional[str] = ..., head_seq: _Optional[int] = ..., head_hash: _Optional[bytes] = ..., sent_at_ms: _Optional[int] = ..., key_id: _Optional[bytes] = ...) -> None: ...

class CatalogPublished(_message.Message):
    __slots__ = ("version", "issued_at_ms", "expires_at_ms", "catalog")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CATALOG_FIELD_NUMBER: _ClassVar[int]
    version: int
    issued_at_ms: int
    expires_at_ms: int
    catalog: Catalog
    def __init__(self, version: _Optional[int] = ..., issued_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., catalog: _Optional[_Union[Catalog, _Mapping]] = ...) -> None: ...

class Catalog(_message.Message):
    __slots__ = ("county_code", "county_name", "title", "items")
    COUNTY_CODE_FIELD_NUMBER: _ClassVar[int]
    COUNTY_NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    county_code: str
    county_name: str
    title: str
    items: _containers.RepeatedCompositeFieldContainer[Item]
    def __init__(self, county_code: _Optional[str] = ..., county_name: _Optional[str] = ..., title: _Optional[str] = ..., items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("code", "name", "name_en", "accept_at", "decided_by", "departments", "statutory_days", "promised_days", "fee_yuan", "materials", "fields")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    STATUTORY_DAYS_FIELD_NUMBER: _ClassVar[int]
    PROMISED_DAYS_FIELD_NUMBER: _ClassVar[int]
    FEE_YUAN_FIELD_NUMBER: _ClassVar[int]
    MATERIALS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    name_en: str
    accept_at: _containers.RepeatedScalarFieldContainer[str]
    decided_by: str
    departments: _containers.RepeatedScalarFieldContainer[str]
    statutory_days: int
    promised_days: int
    fee_yuan: str
    materials: _containers.RepeatedCompositeFieldContainer[MaterialSpec]
    fields: _containers.RepeatedCompositeFieldContainer[FieldSpec]
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., name_en: _Optional[str] = ..., accept_at: _Optional[_Iterable[str]] = ..., decided_by: _Optional[str] = ..., departments: _Optional[_Iterable[str]] = ..., statutory_days: _Optional[int] = ..., promised_days: _Optional[int] = ..., fee_yuan: _Optional[str] = ..., materials: _Optional[_Iterable[_Union[MaterialSpec, _Mapping]]] = ..., fields: _Optional[_Iterable[_Union[FieldSpec, _Mapping]]] = ...) -> None: ...

class MaterialSpec(_message.Message):
    __slots__ = ("code", "name", "required")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    required: bool
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

class FieldSpec(_message.Message):
    __slots__ = ("name", "label", "type", "required", "min", "max", "max_length")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    label: str
    type: str
    required: bool
    min: str
    max: str
    max_length: int
    def __init__(self, name: _Optional[str] = ..., label: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ..., min: _Optional[str] = ..., max: _Optional[str] = ..., max_length: _Optional[int] = ...) -> None: ...
