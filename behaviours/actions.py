"""Small actions for hand-written trees: speak, emote, wait, set a key, OBS scene/effect/text."""

from __future__ import annotations

from typing import Any

from behaviours.base import FAILURE, INVALID, RUNNING, SUCCESS, ShowBehaviour
from director.services.dialogue import choose, fill
from director.services.handles import Handle
from director.showfile import IDLE_FIELDS, lines_spec
from director.spec import AnyValue, Choice, Duration, Field, Str


class Speak(ShowBehaviour):
    kind = "speak"
    doc = "Say one line (chosen from per-language lines); SUCCESS when it has been said."
    params = {
        "lines": Field(lines_spec(IDLE_FIELDS), "lines per language", required=True),
        "language": Field(Str(), "which language to use ('' = the persona's first)", default=""),
        "emotion": Field(Str(), "voice emotion and avatar expression", default="neutral"),
        "reason": Field(Choice("gift", "chat", "asmr", "idle"), "why (for the report)",
                        default="idle"),
    }
    handle: Handle[Any] | None = None

    def initialise(self) -> None:
        ctx = self.ctx
        lang = self.p["language"] or ctx.show.persona["languages"][0]
        template, lang = choose(self.p["lines"], {"zh": "中", "ja": "あ"}.get(lang, "a"), ctx.rng)
        topics = ctx.show.persona["topics"] or [""]
        text = fill(template, {"topic": ctx.rng.choice(topics), "name": ctx.show.persona["name"]})
        ctx.stage.avatar.express(self.p["emotion"], self.now())
        self.handle = ctx.stage.voice.speak(
            text, reason=self.p["reason"], emotion=self.p["emotion"], language=lang)

    def update(self) -> Any:
        return SUCCESS if self.handle is None or self.handle.done() else RUNNING

    def terminate(self, new_status: Any) -> None:
        if new_status == INVALID and self.handle is not None:
            self.handle.cancel()
        self.handle = None


class Emote(ShowBehaviour):
    kind = "emote"
    doc = "Set the avatar's expression and/or play a motion."
    params = {
        "expression": Field(Str(), "expression name", default=""),
        "motion": Field(Str(), "motion name", default=""),
    }

    def update(self) -> Any:
        now = self.now()
        self.ctx.stage.avatar.express(self.p["expression"], now)
        self.ctx.stage.avatar.play(self.p["motion"], now)
        return SUCCESS


class Wait(ShowBehaviour):
    kind = "wait"
    doc = "RUNNING for a while of show time, then SUCCESS."
    params = {"seconds": Field(Duration(), "how long", required=True)}
    until = 0.0

    def initialise(self) -> None:
        self.until = self.now() + self.p["seconds"]

    def update(self) -> Any:
        return SUCCESS if self.now() >= self.until else RUNNING


class SetKey(ShowBehaviour):
    kind = "set"
    doc = "Write a value to one of the show's own blackboard keys."
    params = {
        "key": Field(Str(non_empty=True), "a key declared under 'blackboard:'", required=True),
        "value": Field(AnyValue(), "the value (of the key's type)", required=True),
    }

    @classmethod
    def validate(cls, node: Any, raw: Any, loader: Any) -> None:
        from director.blackboard import KEY_TYPES
        from director.errors import UndeclaredKey
        from director.spec import did_you_mean

        key, value = node.params.get("key"), node.params.get("value")
        if key is None:  # missing or not text: the parameter check has reported it
            return
        decl = loader.keys.get(key)
        if decl is None:
            custom = [k for k, d in loader.keys.items() if not d.builtin]
            loader.ck.add(UndeclaredKey(
                raw.value_place("key"), f"undeclared blackboard key '{key}'",
                did_you_mean(str(key), custom) or "declare it under 'blackboard:' in the show"))
        elif decl.builtin:
            loader.ck.bad(raw.value_place("key"), f"'{key}' is built in and read-only",
                          "declare a key of your own under 'blackboard:'")
        elif "value" in node.params and (  # a missing value is reported by the param check
                not isinstance(value, KEY_TYPES[decl.type])
                or (isinstance(value, bool) and decl.type in ("int", "float"))):
            loader.ck.bad(raw.value_place("value"), f"'{key}' holds {decl.type}, not {value!r}")

    def update(self) -> Any:
        try:
            self.ctx.bb.set(self.p["key"], self.p["value"])
        except (KeyError, TypeError):
            return FAILURE
        return SUCCESS


class Scene(ShowBehaviour):
    kind = "scene"
    doc = "Switch the OBS program scene."
    params = {"scene": Field(Str(non_empty=True), "scene name in OBS", required=True)}

    def update(self) -> Any:
        self.ctx.stage.obs.switch_scene(self.p["scene"], self.now())
        return SUCCESS


class Effect(ShowBehaviour):
    kind = "effect"
    doc = "Show an OBS effect (a media source or scene item, shown for a few seconds)."
    params = {"effect": Field(Str(non_empty=True), "effect name", required=True)}

    def update(self) -> Any:
        self.ctx.stage.obs.show_effect(self.p["effect"], self.now())
        return SUCCESS




class SetText(ShowBehaviour):
    kind = "set_text"
    doc = "Set the text of an OBS text source (a banner, a caption)."
    params = {
        "source": Field(Str(non_empty=True), "text source name in OBS", required=True),
        "text": Field(Str(), "the text to show ('' clears it)", required=True),
    }

    def update(self) -> Any:
        self.ctx.stage.obs.set_text(self.p["source"], self.p["text"], self.now())
        return SUCCESS
