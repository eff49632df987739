"""The desk's sync status in plain Chinese (issue 11): "3 件待上传，上次同步 12月1日 14:03；县里
暂时连不上，数据已安全保存". Read from ``NodeService.status`` -- the same facts ``node status``
prints."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from node.desk.work import waiting_upload
from node.kernel.clock import CST
from node.kernel.identity import HUB_NODE_ID
from node.service import NodeService

__all__ = ["StatusLine", "status_line"]


@dataclass(frozen=True, kw_only=True)
class StatusLine:
    text: str
    tone: str  # ok | warn | bad
    pending_cases: int


def _short(moment: str | None) -> str:
    if not moment:
        return ""
    local = dt.datetime.fromisoformat(moment).astimezone(CST)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def status_line(service: NodeService) -> StatusLine:
    status = service.status()
    synced = int(status["synced_seq"])  # type: ignore[call-overload]
    pending = waiting_upload(service, synced)
    upstream = "县里" if service.config.upstream_node_id == HUB_NODE_ID else "乡镇"
    parts = [f"{pending} 件待上传" if pending else "全部已上传"]
    last = _short(status["last_sync"])  # type: ignore[arg-type]
    parts.append(f"上次同步 {last}" if last else f"还没有和{upstream}同步过")
    text, tone = "，".join(parts), "ok"
    if status["last_attempt_failed"]:
        text += f"；{upstream}暂时连不上，数据已安全保存在本机，连通后会自动上传"
        tone = "warn"
    catalog = status["catalog"]
    if isinstance(catalog, dict) and catalog.get("expired"):
        text += "；事项目录已过期（仍可受理，县里收到后会复核）"
        tone = "warn"
    revoked = status["revoked"]
    if isinstance(revoked, dict):
        text = f"本站的证书已被县里吊销（{revoked['reason']}）：请联系县里的信息中心。" + text
        tone = "bad"
    if status["open_alarms"]:
        text += f"；有 {status['open_alarms']} 条安全警报，请联系县里的信息中心"
        tone = "bad"
    return StatusLine(text=text, tone=tone, pending_cases=pending)
