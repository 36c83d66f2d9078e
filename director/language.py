"""Which language a line is in, from its script: enough to route zh/ja/en without a model."""

from __future__ import annotations

import re

_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


def detect_language(text: str) -> str:
    """'ja' if kana appear, 'zh' for Han script, 'ko' for Hangul, else 'en'."""
    if _KANA.search(text):
        return "ja"
    if _HAN.search(text):
        return "zh"
    if _HANGUL.search(text):
        return "ko"
    return "en"


def pick_language(text: str, available: list[str] | tuple[str, ...]) -> str:
    """The language of `text` if lines exist for it, else the first available one."""
    lang = detect_language(text)
    if lang in available or not available:
        return lang
    return available[0]
