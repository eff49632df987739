"""The desk's sync status in plain Chinese (issue 11): "3 件待上传，上次同步 12月1日 14:03；县里
暂时连不上，数据已安全保存". Read from the same marks ``node status`` reads, without walking the
unsynced records (every page shows this line, and a village offline for weeks holds
thousands)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from node.desk.work import waiting_upload
from node.kernel.clock import CST, from_ms
from node.kernel.errors import NotFoundError
from node.kernel.identity import HUB_NODE_ID
from node.service import NodeService, latest_catalog
from node.store.sql import PUSHED
from node.syncer import LAST_ATTEMPT, LAST_FAILURE, LAST_SUCCESS, failure_code
from node.web.labels import headline_of

__all__ = ["StatusLine", "status_line"]


@dataclass(frozen=True, kw_only=True)
class StatusLine:
    text: str
    tone: str  # ok | warn | bad
    pending_cases: int


def _short(moment: dt.datetime) -> str:
    local = moment.astimezone(CST)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def status_line(service: NodeService) -> StatusLine:
    with service.store.reading() as r:
        synced = r.mark(PUSHED)
        last_ok, last_try = r.mark(LAST_SUCCESS), r.mark(LAST_ATTEMPT)
        failed_at, why = r.mark(LAST_FAILURE), failure_code(r.mark_note(LAST_FAILURE))
        revoked = r.revocation(service.node_id)
        alarms = len(r.open_alarms())
        try:
            expired = latest_catalog(r)[1].expires_at < service.clock.now()
        except NotFoundError:
            expired = False
    pending = waiting_upload(service, synced)
    upstream = "县里" if service.config.upstream_node_id == HUB_NODE_ID else "乡镇"
    parts = [f"{pending} 件待上传" if pending else "全部已上传"]
    parts.append(f"上次同步 {_short(from_ms(last_ok))}" if last_ok
                 else f"还没有和{upstream}同步过")
    text, tone = "，".join(parts), "ok"
    if failed_at and failed_at >= last_ok and why not in ("", "unreachable"):
        # not the network: something only the county's IT team can mend
        text += (f"；上次同步没有成功（{headline_of(why)}），数据已安全保存在本机，"
                 "请联系县里的信息中心")
        tone = "bad"
    elif last_try and last_try > last_ok:
        text += f"；{upstream}暂时连不上，数据已安全保存在本机，连通后会自动上传"
        tone = "warn"
    if expired:
        text += "；事项目录已过期（仍可受理，县里收到后会复核）"
        tone = "warn"
    if revoked is not None:
        text = f"本站的证书已被县里吊销（{revoked.reason}）：请联系县里的信息中心。" + text
        tone = "bad"
    if alarms:
        text += f"；有 {alarms} 条安全警报，请联系县里的信息中心"
        tone = "bad"
    return StatusLine(text=text, tone=tone, pending_cases=pending)
