"""The editor's words: Chinese labels for article fields and types, validation messages, times shown in Beijing time.

``kb.articles`` reports problems in English (they also reach the CLI); editors read Chinese, so the known messages are
translated here and anything unknown is shown as it is rather than hidden.
"""
from __future__ import annotations

import datetime as dt
import re

from flask import abort, request

REVIEW_LABELS = {"overdue": "已过复核期", "due_soon": "即将到期", "ok": "正常", "unset": "未设复核日期"}
FIELD_LABELS = {"id": "ID", "title": "标题", "type": "类型", "tags": "标签", "aliases": "别名", "owner": "负责团队",
                "review_by": "复核日期", "sources": "依据来源", "requires": "随答案提示的规则", "questions": "常见问法", "triggers": "触发词",
                "examples": "示例说法", "counter_examples": "反例（不应触发的说法）",
                "say": "须告知话术", "said_examples": "坐席说法示例",
                "said_facts": "话术要点", "said_not": "相反说法", "steps": "升级步骤", "timer": "计时触发", "body": "正文"}
CLOCK_LABELS = {"wait": "客户等待时长", "call": "通话时长"}
BEIJING = dt.timezone(dt.timedelta(hours=8))

_MESSAGES = [
    (re.compile(r"^is required \(a list"), "必填：至少填写一项"),
    (re.compile(r"^is required$"), "必填"),
    (re.compile(r"^must not be empty$"), "不能为空"),
    (re.compile(r"^must be a single value$"), "只能填写一个值"),
    (re.compile(r"^must be a list of strings$"), "须为文字列表"),
    (re.compile(r"^'(.*)' must be 2-80 lower-case"), "“{0}”不符合要求：须为 2–80 位小写英文字母、数字或“-”，以字母或数字开头"),
    (re.compile(r"^is longer than (\d+) characters$"), "超过 {0} 个字"),
    (re.compile(r"^'(.*)' is not one of"), "“{0}”不是有效类型"),
    (re.compile(r"^'(.*)' is not a date"), "“{0}”不是有效日期（格式 YYYY-MM-DD）"),
    (re.compile(r"^must be a mapping like"), "格式不对：请选择计时方式并填写秒数"),
    (re.compile(r"^clock must be one of"), "请选择计时方式（客户等待时长或通话时长）"),
    (re.compile(r"^after_seconds must be"), "秒数须为正整数"),
    (re.compile(r"^'(.*)' is not an article id"), "“{0}”不是有效的文章 ID（小写英文字母、数字或“-”）"),
    (re.compile(r"^body is empty"), "正文为空：请至少写一节内容"),
    (re.compile(r"^(?:file|article) is (?:larger than|(\d+) bytes)"), "文章太大（上限 512 KB）"),
    (re.compile(r"^not valid UTF-8"), "文件不是 UTF-8 编码"),
    (re.compile(r"^must start with a '---' line"), "文件须以“---”行开始 YAML 头信息"),
    (re.compile(r"^front matter is not closed"), "YAML 头信息缺少结束的“---”行"),
    (re.compile(r"^front matter is not valid YAML: (.*)"), "YAML 头信息格式错误：{0}"),
    (re.compile(r"^front matter must be a mapping"), "YAML 头信息须为“字段: 值”的形式"),
    (re.compile(r"^id '(.*)' is already used by"), "ID “{0}”在本批文件中重复"),
    (re.compile(r"^contains the control character (U\+[0-9A-F]+) at position (\d+)"),
     "第 {1} 个字是控制字符 {0}（看不见但会出错），请删除后再保存"),
]


def message_zh(message: str) -> str:
    """The Chinese wording of a validation message from ``kb.articles`` (unknown ones unchanged)."""
    for pattern, text in _MESSAGES:
        match = pattern.search(message)
        if match:
            return text.format(*(g or "" for g in match.groups()))
    return message


def beijing_time(value: dt.datetime | None) -> str:
    """Stored times are naive UTC; editors work in Beijing time."""
    if value is None:
        return ""
    return value.replace(tzinfo=dt.timezone.utc).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def int_field(name: str, default: int | None = None, source=None) -> int:
    """A whole-number form field (hidden version counters); anything else is a clear 400, not a 500."""
    raw = (source if source is not None else request.form).get(name, "")
    if raw in ("", None) and default is not None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        abort(400, description=f"{name} must be a whole number, got {str(raw)[:40]!r}")
    if value < 0:
        abort(400, description=f"{name} must not be negative")
    return value
