"""The pages' Chinese words (GLOSSARY's 中文 column), in one place: states, actions, colours,
roles, record kinds, and a headline for each error code a page can meet.

Domain errors carry an English message a clerk can act on (STYLE §8) -- the CLI prints it; a
page shows the Chinese headline for the error's code first and that message beneath it, so
nothing the message says is lost and nothing is translated twice.
"""

from __future__ import annotations

import datetime as dt

from node.kernel.clock import CST
from node.kernel.errors import BianminError

__all__ = ["ACTION", "COLOUR", "KIND", "ROLE", "STATE", "error_headline", "masked_id",
           "masked_name", "when", "when_day"]

STATE = {
    "submitted": "已受理（待上传）", "incomplete": "材料不齐（待补齐）", "received": "县里已收到",
    "accepted": "已受理审查", "not_accepted": "不予受理", "in_review": "审查中",
    "supplement_requested": "待补正", "supplemented": "已补正", "approved": "准予许可",
    "rejected": "不予许可", "concluded": "已办结", "withdrawn": "已撤回",
}
ACTION = {
    "accept": "受理", "not_accept": "不予受理", "request_supplement": "补正告知",
    "opinion": "部门意见", "approve": "准予许可", "reject": "不予许可",
    "supplement": "补齐补正", "withdraw": "撤回", "conclude": "办结",
}
COLOUR = {"statutory_breach": "超法定时限", "red": "红牌", "yellow": "黄牌", "on_time": "正常"}
ROLE = {"clerk": "窗口工作人员（承办）", "head": "科室负责人（审核/批准）", "supervisor": "监督员",
        "admin": "管理员", "agent": "代办员"}
KIND = {
    "CaseSubmitted": "提交申请", "PreReviewed": "预审", "Supplemented": "补齐补正",
    "Withdrawn": "撤回", "Concluded": "办结", "Decision": "审批决定", "Accepted": "受理",
    "NotAccepted": "不予受理", "SupplementRequested": "补正告知", "Opinion": "部门意见",
    "ActionRefused": "操作被拒绝", "DecisionConfirmed": "县里确认乡镇决定",
    "Received": "县里收到", "Flagged": "标记", "CalendarLoaded": "载入日历",
    "OperatorAdded": "登记工作人员", "OperatorDisabled": "停用工作人员",
    "NodeRevoked": "吊销节点", "AccountChanged": "账号变更",
    "KeyRotated": "更换签名密钥", "KeyReplaced": "密钥丢失后更换密钥",
    "KeyReplacementToken": "签发更换密钥令牌",
}
VIA = {"console": "控制台登录", "token": "个人令牌（命令行）",
       "local-admin": "本机管理模式（未认证）", "": ""}

_HEADLINES = {
    "bad_resident_id": "身份证号码有误", "unknown_item": "目录中没有这个事项",
    "item_not_accepted_here": "本站不能受理这个事项", "unknown_material": "不是这个事项的申请材料",
    "unknown_field": "不是这个事项的填写项", "missing_field": "有必填项没有填写",
    "bad_field": "填写的内容不符合要求", "case_too_large": "上传的文件太大",
    "file_too_large": "上传的文件太大", "invalid_transition": "办件当前的状态不允许这个操作",
    "not_found": "没有找到", "reason_required": "请填写理由", "materials_required": "请选择材料",
    "note_required": "请填写说明", "opinion_required": "请选择同意或不同意",
    "wrong_department": "这不是您部门的办件", "supervisor_cannot_act": "监督员只能查看，不能办理",
    "admin_cannot_act": "管理员不办理办件",
    "joint_approval_pending": "并联审批：还有部门未出具同意意见",
    "delegated_item": "这是下放给乡镇的事项，由乡镇决定", "not_delegated": "这个事项不是下放事项",
    "no_delegation": "本乡镇没有有效的委托", "unknown_operator": "工作人员未登记",
    "operator_disabled": "工作人员已停用", "bad_login": "登录失败", "locked": "账号已锁定",
    "disabled": "账号已停用", "session_expired": "登录已过期", "weak_password": "密码不符合要求",
    "already_registered": "已经存在", "unknown_account": "没有这个账号", "csrf": "页面已过期",
    "forbidden": "没有权限", "rate_limited": "查询太频繁", "bad_request": "输入有误",
    "bad_account_name": "账号名称不符合要求", "case_numbers_exhausted": "今天的受理编号已用完",
    "duplicate": "同一申请人已有同一事项在办",
    "duplicate_application": "同一申请人已有同一事项在办，请确认后再受理",
    "bad_name": "姓名不符合要求（不超过 50 个字，不能含控制字符）",
    "bad_phone": "联系电话格式不对", "bad_text": "文字中有不允许的字符或太长",
    "catching_up": "本站数据刚恢复，正在从上级取回记录，请先同步",
    "empty_file": "上传的文件是空的", "unreadable_file": "上传的文件读不出来",
    "damaged_database": "本站数据库损坏，请联系县信息中心恢复备份",
    "disk_full": "磁盘已满，请清理空间后重试", "read_only": "磁盘只读，无法保存",
    "disk_error": "磁盘读写出错，请尽快备份",
    "retired_certificate": "本站的旧证书已作废，本站已在新电脑上恢复",
    "revoked": "本站的证书已被县里吊销", "held": "本站的记录有冲突，县里已暂停接收",
    "fork": "本站的记录与县里保存的不一致",
    "replacement_misplaced": "乡镇还没有把本站的记录报给县里",
    "log_behind_upstream": "上级保存的本站记录不完整", "protocol": "上级的答复不符合协议",
}


def error_headline(exc: BianminError) -> str:
    return headline_of(exc.code)


def headline_of(code: str) -> str:
    return _HEADLINES.get(code, "操作没有完成")


def when(moment: dt.datetime | None) -> str:
    """``2026年12月1日 14:03`` in China Standard Time."""
    if moment is None:
        return ""
    local = moment.astimezone(CST)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def when_day(day: dt.date | dt.datetime | None) -> str:
    if day is None:
        return ""
    if isinstance(day, dt.datetime):
        day = day.astimezone(CST).date()
    return f"{day.year}年{day.month}月{day.day}日"


def masked_name(name: str) -> str:
    """张秀英 -> 张*英, 张三 -> 张*: what a public page or a slip shows of a person."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * min(len(name) - 2, 3) + name[-1]


def masked_id(number: str) -> str:
    """360112195803011025 -> 3601**********1025."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
