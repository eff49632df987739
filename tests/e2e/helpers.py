"""Tools for end-to-end tests that play the attacker: raw clients, forged records, a fake
upstream. They use bianmin's own pieces (the real servicer, the real record sealing) so that
what is tested is the receiver's judgement, not a mock's."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bianmin.demo import resident_id
from bianmin.procs import ServerProcess, run
from node.home import load_ed25519_key
from node.kernel.clock import FixedClock
from node.kernel.identity import HUB_NODE_ID, Signer
from node.kernel.payloads import Payload
from node.kernel.records import LogHead, Record, seal
from node.kernel.wire import decode_body
from sync import PullBatch, PushResult, WireRecord
from sync.client import UpstreamClient
from sync.server import RunningServer, start_server
from sync.tls import CHANNEL_OPTIONS, ClientTls, ServerTls
from tests.incli import setup


def client_of(home: Path, address: str, expected: str = HUB_NODE_ID) -> UpstreamClient:
    """A mutual-TLS client holding the node's own TLS key (what a malicious node has)."""
    tls = ClientTls(ca_pem=(home / "certs" / "ca.pem").read_bytes(),
                    private_key_pem=(home / "keys" / "tls.key").read_bytes(),
                    certificate_pem=(home / "certs" / "tls.pem").read_bytes())
    return UpstreamClient(address, expected, tls, call_timeout_s=10)


def channel_of(home: Path, address: str, expected: str = HUB_NODE_ID) -> grpc.Channel:
    """A raw mutual-TLS gRPC channel holding the node's identity (for health, reflection)."""
    tls = ClientTls(ca_pem=(home / "certs" / "ca.pem").read_bytes(),
                    private_key_pem=(home / "keys" / "tls.key").read_bytes(),
                    certificate_pem=(home / "certs" / "tls.pem").read_bytes())
    return grpc.secure_channel(address, tls.credentials(), options=[
        *CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", expected)])


def wait_for_health(channel: grpc.Channel, status: int, within_s: float) -> int:
    """Poll the standard health service until it reports ``status`` (bounded); the last seen."""
    stub = health_pb2_grpc.HealthStub(channel)
    check = health_pb2.HealthCheckRequest(service="")
    seen, deadline = -1, time.monotonic() + within_s
    while time.monotonic() < deadline:
        seen = stub.Check(check, timeout=5).status
        if seen == status:
            break
        time.sleep(0.1)
    return seen


def records_of(home: Path, log_id: str) -> list[WireRecord]:
    with sqlite3.connect(home / "node.db") as db:
        rows = db.execute("SELECT seq, body, signature FROM records WHERE log_id = ? "
                          "ORDER BY seq", (log_id,)).fetchall()
    return [WireRecord(body=b, signature=s, seq=q) for q, b, s in rows]


def signer_of(home: Path, key: str = "records") -> Signer:
    """A node's (or the hub's) signing key, read from its home: a stolen key."""
    return Signer(load_ed25519_key(home / "keys" / f"{key}.key"))


def forge(payload: Payload, *, log_id: str, signer: Signer, seq: int = 1,
          prev: Record | None = None, body_tail: bytes = b"") -> WireRecord:
    """A record sealed with ``signer``: properly signed, whatever it claims."""
    head = prev.head if prev is not None else LogHead(seq=seq - 1)
    if prev is None and seq > 1:
        head = LogHead(seq=seq - 1)
    record = seal(payload, log_id=log_id, head=head, signer=signer,
                  clock=FixedClock(dt.datetime.now(dt.UTC)))
    body = record.body + body_tail
    return WireRecord(body=body, signature=signer.sign(body), seq=record.seq)


class FakeUpstream:
    """A sync server with the hub's TLS identity that serves whatever the test wants: a
    compromised hub machine, or a network attacker who stole the hub's TLS key (but not its
    records or catalog keys)."""

    def __init__(self, hub_home: Path, batches: Callable[[Mapping[str, int]], list[PullBatch]]):
        self._batches = batches
        self.pushed: list[WireRecord] = []
        tls = ServerTls(
            private_key_pem=(hub_home / "keys" / "tls.key").read_bytes(),
            certificate_chain_pem=(hub_home / "certs" / "tls.pem").read_bytes()
            + (hub_home / "ca" / "ca.pem").read_bytes(),
            client_ca_pem=(hub_home / "ca" / "ca.pem").read_bytes(),
        )
        self.server: RunningServer = start_server(tls=tls, listen="127.0.0.1:0", handler=self,
                                                  max_workers=4)
        self.address = f"127.0.0.1:{self.server.sync_port}"

    def push(self, peer_pem: bytes, log_id: str, records: Sequence[WireRecord],
             heartbeat: WireRecord | None, certificates: Sequence[bytes]) -> PushResult:
        self.pushed.extend(records)
        return PushResult(committed_seq=max((decode_body(r.body)[0].seq for r in records),
                                            default=0))

    def pull(self, peer_pem: bytes, cursors: Mapping[str, int], follow_s: float = 0.0,
             alive: Callable[[], bool] = lambda: True) -> Iterator[PullBatch]:
        yield from self._batches(cursors)

    def rotate_key(self, peer_pem: bytes, records_csr: bytes) -> bytes:
        raise NotImplementedError

    def stop(self) -> None:
        self.server.stop(1)


def point_node_at(home: Path, address: str) -> None:
    """Rewrite the node's upstream address (as an attacker in the path would redirect it)."""
    text = (home / "node.toml").read_text(encoding="utf-8")
    lines = [f'upstream = "{address}"' if line.startswith("upstream =") else line
             for line in text.splitlines()]
    (home / "node.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- a county with township T01 (issue 5) ------------------------------------------------

TEMP_RELIEF = ["--item", "MZ-002", "--material", "application", "--material", "id_card",
               "--material", "hardship_proof", "--field", "amount_requested_yuan=800"]


class Tree:
    """A county hub (from the ``federation`` fixture), township T01 and its villages."""

    def __init__(self, federation) -> None:
        self.fed = federation
        self.home = federation.root / "t01"
        tok = federation.token("T01", tier="township")["token"]
        setup("township", "init", "--home", str(self.home), "--upstream", federation.sync_at,
              "--enrol", federation.enrol_at, "--token", tok)
        self.proc: ServerProcess | None = None
        self.address = ""

    def start(self) -> None:
        listen = self.address or "127.0.0.1:0"
        self.proc = ServerProcess(["township", "serve", "--home", str(self.home), "--listen",
                                   listen, "--interval", "3", "--json"],
                                  log=self.fed.root / "t01.log")
        self.address = self.proc.sync_address

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def village(self, node_id: str, *, fallback: bool = False) -> Path:
        home = self.fed.root / node_id.lower()
        tok = setup("hub", "token", "--home", str(self.fed.hub_home), "--node-id", node_id,
                    "--tier", "village", "--parent", "T01", "--json").json()["token"]
        extra = ["--fallback", self.fed.sync_at] if fallback else []
        setup("node", "init", "--home", str(home), "--upstream", self.address, "--enrol",
              self.fed.enrol_at, "--token", tok, *extra)
        return home

    def sync(self) -> dict:
        return run("township", "sync", "--home", str(self.home), "--json").json()

    def cases(self) -> dict[str, dict]:
        return {c["case_id"]: c for c in run("township", "cases", "--home", str(self.home),
                                             "--json").json()["cases"]}


def hub(federation, *args, check=True):
    return run("hub", *args, "--home", str(federation.hub_home), check=check)


def node_state(home: Path, case_id: str) -> dict:
    return run("node", "show", case_id, "--home", str(home), "--json").json()


def take(home: Path, argv: list[str], name="甲", id17="36011219580301102") -> str:
    return run("node", "intake", "--home", str(home), "--applicant-name", name,
               "--applicant-id", resident_id(id17), *argv, "--json").json()["case_id"]
