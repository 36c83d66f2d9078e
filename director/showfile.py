"""The show file: sections, their rules, and the typed `Show` a run works from.

`load_show(path)` reads the YAML, checks every section against the specs below, loads the tree
(with its `trees/` includes) and raises `ShowErrors` listing every problem with its place. The same
specs produce `director schema`. Defaults here are what a streamer gets by leaving a section out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from director.blackboard import BUILTIN_KEYS, KEY_TYPES, KeyDecl
from director.errors import MissingFile, Place, ShowErrors, ShowLoadError
from director.events import Money
from director.spec import (
    AnyValue,
    Bool,
    Checker,
    Choice,
    Duration,
    Field,
    Int,
    ListOf,
    MapOf,
    Number,
    Record,
    Spec,
    Str,
    Tagged,
    Template,
)
from director.yamlsource import YList, YMap, read_yaml

LANG = r"[a-z]{2}(-[A-Za-z]{2,4})?"
GIFT_FIELDS = ("viewer", "gift", "count", "value", "currency", "tier", "name")
MEMBER_FIELDS = ("viewer", "level", "months", "value", "currency", "name")
AGG_FIELDS = ("names", "others", "gift", "count", "value", "currency", "name")
REPLY_FIELDS = ("viewer", "text", "topic", "name", "value", "currency")
IDLE_FIELDS = ("topic", "name")
CROWD_FIELDS = ("names", "others", "count", "name")


def lines_spec(names: tuple[str, ...]) -> Spec:
    """Lines per language: {zh: [...], en: [...]}, each a template."""
    return MapOf(ListOf(Template(names), min_items=1, scalar_ok=True), key_pattern=LANG)


TIER = Record({
    "name": Field(Str(non_empty=True), "what the streamer calls this tier", required=True),
    "min": Field(Number(minimum=0), "lowest gift value (show currency) in this tier",
                 required=True),
    "lines": Field(lines_spec(GIFT_FIELDS), "thank-you lines per language", required=True),
    "expression": Field(Str(), "avatar expression while thanking", default="happy"),
    "motion": Field(Str(), "avatar motion while thanking", default=""),
    "effect": Field(Str(), "effect name sent to OBS (issue: OBS control)", default=""),
}, doc="one gift tier")

GIFTS = Record({
    "tiers": Field(ListOf(TIER, min_items=1), "gift tiers, lowest first", default=None),
    "combo_window_s": Field(Duration(), "same viewer + same gift within this window = one thanks",
                            default=3.0),
    "aggregate_max_tier": Field(Int(minimum=0), "tiers up to this one are aggregated in a storm",
                                default=1),
    "aggregate_after": Field(Int(minimum=1), "aggregate small thanks when more than this many wait",
                             default=4),
    "aggregate_names": Field(Int(minimum=1), "names said aloud in an aggregated thanks", default=2),
    "aggregate_lines": Field(lines_spec(AGG_FIELDS), "lines for aggregated thanks", default=None),
    "membership_lines": Field(lines_spec(MEMBER_FIELDS), "lines for new and renewed members",
                              default=None),
    "priority": Field(ListOf(Choice("tier", "level", "combo", "value")),
                      "order in which waiting thanks are said", default=["tier", "level", "combo"]),
}, doc="gift reactions")

CHAT = Record({
    "reply_interval_s": Field(Duration(), "at most one chat reply every N seconds", default=8.0),
    "max_age_s": Field(Duration(minimum=1), "chat older than this is skipped, not answered",
                       default=90.0),
    "max_length": Field(Int(minimum=1), "longer messages are moderated (never spoken)",
                        default=120),
    "banned_words": Field(ListOf(Str(non_empty=True)), "words (zh/en) that moderate a message or "
                          "username", default=[]),
    "duplicate_window_s": Field(Duration(), "the same text again within this window is skipped",
                                default=60.0),
    "spam_per_viewer": Field(Int(minimum=1), "messages per viewer per spam window before skipping",
                             default=4),
    "spam_window_s": Field(Duration(minimum=1), "spam window", default=30.0),
    "pool_size": Field(Int(minimum=1), "most chat messages kept as reply candidates", default=200),
}, doc="chat selection and moderation")

MODERATION = Record({
    "default_lists": Field(Bool(), "use the shipped zh/en banned-word lists", default=True),
    "word_files": Field(ListOf(Str(non_empty=True)), "more banned-word files (one a line, '#' "
                        "comments, ' ~' = also homophones), relative to the show", default=[]),
    "allow": Field(ListOf(Str(non_empty=True)), "words this show lets through although a list "
                   "bans them", default=[]),
    "homophones": Field(Bool(), "catch Chinese banned words written with same-sounding "
                        "characters or pinyin (needs pypinyin)", default=True),
    "links": Field(Bool(), "moderate links and web addresses", default=True),
    "allowed_domains": Field(ListOf(Str(non_empty=True)), "links to these domains pass",
                             default=[]),
    "phones": Field(Bool(), "moderate phone numbers and off-platform contact ids",
                    default=True),
    "injection": Field(Bool(), "moderate attempts to steer the model ('ignore previous "
                       "instructions', '你现在是', 'system prompt')", default=True),
}, doc="moderation rules for chat, usernames and the model's replies")

INTERRUPTS = Record({
    "gift_tier": Field(Int(minimum=1), "gifts of this tier or above may interrupt", default=3),
    "super_chat": Field(Bool(), "super chats may interrupt", default=True),
    "speech": Field(Bool(), "the operator's voice may interrupt", default=True),
}, doc="what may interrupt a segment")

TRIGGER = Record({
    "sound": Field(Str(non_empty=True), "trigger sound name (tapping, brushing, ...)",
                   required=True),
    "every_s": Field(Duration(minimum=0.5), "play it every N seconds of segment time",
                     default=20.0),
    "gain": Field(Number(minimum=0, maximum=2), "loudness (1 = as recorded)", default=1.0),
    "pan": Field(Number(minimum=-1, maximum=1), "-1 left .. 1 right", default=0.0),
}, short="sound")

SEGMENT = Record({
    "name": Field(Str(non_empty=True), "segment name (shown in the report and viewer)",
                  required=True),
    "kind": Field(Str(non_empty=True), "segment kind (selects the OBS scene mapping)",
                  default="asmr"),
    "at": Field(Duration(), "show time when the segment becomes due", required=True),
    "duration": Field(Duration(minimum=1), "how long the segment runs", required=True),
    "lines": Field(ListOf(Template(IDLE_FIELDS)), "whispered lines, in order", default=[]),
    "triggers": Field(ListOf(TRIGGER), "trigger sounds on a schedule", default=[]),
    "ambience": Field(Str(), "ambience bed under the segment", default=""),
    "scene": Field(Str(), "OBS scene during the segment", default=""),
    "emotion": Field(Str(), "voice emotion for the lines", default="whisper"),
    "interruptible_by": Field(INTERRUPTS, "overrides the show's interrupts during this segment",
                              default=None),
})

PERSONA = Record({
    "name": Field(Str(non_empty=True), "the avatar's name", required=True),
    "description": Field(Str(), "who the avatar is", default=""),
    "personality": Field(Str(), "character traits, for the dialogue model's prompt", default=""),
    "style": Field(Str(), "how the avatar speaks (the dialogue model's prompt)", default=""),
    "catchphrases": Field(ListOf(Str(non_empty=True)), "phrases the avatar sometimes uses",
                          default=[]),
    "rules": Field(ListOf(Str(non_empty=True)), "rules the dialogue model must keep to",
                   default=[]),
    "topics": Field(ListOf(Str(non_empty=True)), "topics for self-talk", default=[]),
    "languages": Field(ListOf(Str(pattern=LANG), min_items=1), "languages the avatar speaks",
                       default=["en"]),
    "replies": Field(Record({
        "chat": Field(lines_spec(REPLY_FIELDS), "template replies to chat", default=None),
        "question": Field(lines_spec(REPLY_FIELDS), "template replies to questions", default=None),
        "super_chat": Field(lines_spec(REPLY_FIELDS), "replies to super chats", default=None),
        "speech": Field(lines_spec(REPLY_FIELDS), "replies to the operator", default=None),
    }), "template responder lines (used until a dialogue model is configured)", default=None),
    "self_talk": Field(lines_spec(IDLE_FIELDS), "self-talk lines after a silence", default=None),
    "crowd": Field(Record({
        "follow": Field(lines_spec(CROWD_FIELDS), "welcome new followers", default=None),
        "enter": Field(lines_spec(CROWD_FIELDS), "greet viewers who came in", default=None),
        "like": Field(lines_spec(CROWD_FIELDS), "thank for likes", default=None),
    }), "lines for follows, entries and likes", default=None),
}, doc="who the avatar is")

IDLE = Record({
    "silence_s": Field(Duration(minimum=1), "self-talk after this much silence", default=45.0),
    "look_every_s": Field(Duration(minimum=0.5), "glance around every N seconds", default=6.0),
    "motions": Field(ListOf(Str(non_empty=True)), "idle motions to cycle through",
                     default=["breathe", "sway", "look_around"]),
    "crowd_every_s": Field(Duration(minimum=1), "acknowledge follows/likes at most this often",
                           default=20.0),
})

DIALOGUE = Record({
    "engine": Field(Choice("auto", "llama", "openai", "templates"),
                    "who writes replies: 'llama' (a local GGUF through llama.cpp), 'openai' (an "
                    "OpenAI-compatible server), 'templates' (the persona's reply lines); 'auto' is "
                    "'llama' with the default model when it is installed, else 'templates'",
                    default="auto"),
    "model": Field(Str(), "llama: GGUF file (relative to the show file or the working folder; "
                   "empty: the default model in assets/models/); openai: the model name sent",
                   default=""),
    "n_gpu_layers": Field(Int(minimum=-1), "layers offloaded to the GPU (-1: all)", default=0),
    "n_ctx": Field(Int(minimum=256, maximum=131072), "context length in tokens", default=2048),
    "n_threads": Field(Int(minimum=0), "CPU threads (0: all cores but one, leaving the "
                       "voice and the renderer a core)", default=0),
    "chat_format": Field(Str(), "llama-cpp-python chat format for a GGUF without a chat template "
                         "(chatml, llama-3, gemma, ...); empty: the file's own template",
                         default=""),
    "url": Field(Str(), "openai: server base URL, e.g. http://127.0.0.1:8080/v1", default=""),
    "api_key_env": Field(Str(), "openai: environment variable holding the API key (if any)",
                         default="DIRECTOR_LLM_API_KEY"),
    "max_tokens": Field(Int(minimum=8, maximum=4096), "most tokens generated per reply",
                        default=96),
    "temperature": Field(Number(minimum=0, maximum=2), "sampling temperature", default=0.7),
    "timeout_s": Field(Number(minimum=0.5), "a reply not finished by then ends at its last "
                       "sentence (or is a persona line if nothing came)", default=10.0),
    "max_sentences": Field(Int(minimum=1, maximum=20), "most sentences in a reply", default=2),
    "max_chars": Field(Int(minimum=20, maximum=4000), "most characters in a reply (CJK "
                       "characters count two)", default=140),
    "history": Field(Int(minimum=0, maximum=20), "recent exchanges (in the message's language) "
                     "included in the prompt", default=2),
}, short="engine", doc="the dialogue model")

VOICE = Record({
    "engine": Field(Choice("subtitles", "tts"), "voice engine; 'subtitles' writes lines with real "
                    "timing, 'tts' speaks them with the voice profile's engines",
                    default="subtitles"),
    "profile": Field(Str(non_empty=True), "voice profile for 'tts' (voices/NAME.yaml, relative to "
                     "the show file or the working folder)", default="voices/sakura.yaml"),
    "rate": Field(Number(minimum=0.25, maximum=4), "speaking-rate factor", default=1.0),
}, short="engine", doc="the voice")

AVATAR = Record({
    "model": Field(Str(non_empty=True), "'builtin', a Live2D model file (.model.json or "
                   ".model3.json) or an avatar mapping (avatars/NAME.yaml); relative to the show "
                   "file or the working folder", default="builtin"),
    "mapping": Field(Str(), "avatar mapping YAML for a Live2D model file (expressions, motions, "
                     "parameter ids); default: NAME.avatar.yaml beside the model, else the "
                     "standard ids", default=""),
    "fps": Field(Number(minimum=1, maximum=60), "frames per second the renderer draws (30 or 60)",
                 default=30),
    "size": Field(Str(pattern=r"[1-9][0-9]{1,4}x[1-9][0-9]{1,4}"), "frame size WIDTHxHEIGHT",
                  default="1280x720"),
    "preview": Field(AnyValue(), "preview window: 'auto' (when a display exists and the run is "
                     "not --headless), true or false", default="auto"),
    "virtual_camera": Field(AnyValue(), "send frames to a virtual camera (true, or settings for "
                            "renderer.sinks)", default=False),
    "browser_source": Field(AnyValue(), "serve frames to OBS's browser source (true, or "
                            "settings for renderer.sinks)", default=False),
    "record_video": Field(Str(), "record the avatar to this video file (.mp4)", default=""),
}, short="model")

def _platform_records() -> dict[str, Record]:
    from director.listeners import platform_records

    return platform_records()


PLATFORM = Tagged("kind", _platform_records)

OBS_EFFECT = Record({
    "scene": Field(Str(non_empty=True), "scene holding the item", required=True),
    "source": Field(Str(non_empty=True), "media/image source shown as the effect", required=True),
    "seconds": Field(Number(minimum=0.1), "how long it stays visible", default=4.0),
})

OBS = Record({
    "enabled": Field(Bool(), "drive OBS over obs-websocket", default=False),
    "host": Field(Str(), "obs-websocket host", default="127.0.0.1"),
    "port": Field(Int(minimum=1, maximum=65535), "obs-websocket port", default=4455),
    "password_env": Field(Str(), "environment variable holding the password",
                          default="DIRECTOR_OBS_PASSWORD"),
    "scenes": Field(MapOf(Str()), "scene per segment kind (default, asmr, ...)", default={}),
    "subtitles": Field(Str(), "text source for subtitles", default=""),
    "banner": Field(Str(), "text source for gift banners", default=""),
    "effects": Field(MapOf(OBS_EFFECT), "effect name (a gift tier's `effect`) -> scene item "
                     "shown for a few seconds", default={}),
    "virtual_camera": Field(Bool(), "start the virtual camera when the show starts",
                            default=False),
    "start_streaming": Field(Bool(), "start streaming at show start, stop at show end",
                             default=False),
})

VIEWER = Record({
    "enabled": Field(Bool(), "serve the live viewer page while the show runs", default=True),
    "host": Field(Str(non_empty=True), "address to listen on; anything but 127.0.0.1 also needs "
                  "--allow-remote-viewer", default="127.0.0.1"),
    "port": Field(Int(minimum=0, maximum=65535), "port of the viewer page (0: any free port)",
                  default=8765),
}, doc="the live viewer (a local web page)")

CURRENCY = Record({
    "base": Field(Str(pattern=r"[A-Z]{3}"), "the show's currency", default="CNY"),
    "rates": Field(MapOf(Number(minimum=0), key_pattern=r"[A-Z][A-Z_]{2,}"),
                   "1 unit of KEY (a currency or BILI_GOLD, DOUYIN_COIN, KUAISHOU_COIN, BITS) = "
                   "value units of base", default={}),
}, short="base")

KEY = Record({
    "type": Field(Choice(*KEY_TYPES), "value type", required=True),
    "default": Field(AnyValue(), "initial value"),
    "doc": Field(Str(), "what the key means", default=""),
})

SHOW_FIELDS: dict[str, Field] = {
    "name": Field(Str(non_empty=True), "the show's title", required=True),
    "description": Field(Str(), "what the show is", default=""),
    "persona": Field(PERSONA, "who the avatar is", required=True),
    "voice": Field(VOICE, "how lines are spoken", default=None),
    "avatar": Field(AVATAR, "the avatar model", default=None),
    "platforms": Field(ListOf(PLATFORM), "listeners that feed events", default=[]),
    "obs": Field(OBS, "OBS control", default=None),
    "viewer": Field(VIEWER, "the live viewer web page", default=None),
    "dialogue": Field(DIALOGUE, "the dialogue model for chat replies", default=None),
    "currency": Field(CURRENCY, "the currency gift values are counted in", default=None),
    "gifts": Field(GIFTS, "gift tiers and reactions", default=None),
    "chat": Field(CHAT, "chat selection and moderation", default=None),
    "moderation": Field(MODERATION, "moderation rules (chat.banned_words adds words)",
                        default=None),
    "interrupts": Field(INTERRUPTS, "what may interrupt a segment", default=None),
    "segments": Field(ListOf(SEGMENT), "scheduled segments", default=[]),
    "idle": Field(IDLE, "idle performance", default=None),
    "blackboard": Field(MapOf(KEY, key_pattern=r"[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*"),
                        "the show's own blackboard keys", default={}),
    "tree": Field(AnyValue(), "the behaviour tree (see node kinds)", required=True),
}
SHOW = Record(SHOW_FIELDS, doc="a director show")


DEFAULT_TIERS: list[dict[str, Any]] = [
    {"name": "small", "min": 0.0, "expression": "happy", "motion": "nod", "effect": "",
     "lines": {"zh": ["谢谢{viewer}的{count}个{gift}！"],
               "en": ["Thank you {viewer} for the {count} {gift}!"]}},
    {"name": "medium", "min": 1.0, "expression": "happy", "motion": "wave", "effect": "sparkle",
     "lines": {"zh": ["哇，谢谢{viewer}送的{count}个{gift}，好开心！"],
               "en": ["Wow, thank you {viewer} for {count} {gift}!"]}},
    {"name": "large", "min": 10.0, "expression": "excited", "motion": "cheer", "effect": "hearts",
     "lines": {"zh": ["天哪！{viewer}送了{count}个{gift}！太感谢了！"],
               "en": ["Oh my! {viewer}, {count} {gift}! Thank you so much!"]}},
    {"name": "huge", "min": 100.0, "expression": "excited", "motion": "jump", "effect": "fireworks",
     "lines": {"zh": ["{viewer}！！{count}个{gift}！我要哭了，真的太谢谢你了！"],
               "en": ["{viewer}!! {count} {gift}! I can't believe it, thank you!"]}},
]
DEFAULT_AGGREGATE = {"zh": ["谢谢{names}等{others}位送的{gift}！"],
                     "en": ["Thank you {names} and {others} others for the {gift}!"]}
DEFAULT_MEMBERSHIP = {"zh": ["谢谢{viewer}的{months}个月会员支持！欢迎欢迎！"],
                      "en": ["{viewer}, thank you for the membership! Welcome to the club!"]}
DEFAULT_REPLIES = {
    "chat": {"zh": ["{viewer}说“{text}”，嗯嗯，我在听哦。"],
             "en": ["{viewer} says: {text}. I hear you!"]},
    "question": {"zh": ["{viewer}问“{text}”……让我想一想哦。"],
                 "en": ["{viewer} asks: {text}. Hmm, let me think about that."]},
    "super_chat": {"zh": ["谢谢{viewer}的醒目留言！“{text}”"],
                   "en": ["Thank you for the super chat, {viewer}! {text}"]},
    "speech": {"zh": ["好的，收到。"], "en": ["Got it."]},
}
DEFAULT_SELF_TALK = {"zh": ["说起来，{topic}真的很有意思呢。"],
                     "en": ["You know, I've been thinking about {topic}."]}
DEFAULT_CROWD = {
    "follow": {"zh": ["欢迎{names}关注！"], "en": ["Welcome, {names}! Thanks for the follow!"]},
    "enter": {"zh": ["欢迎{names}来到直播间～"], "en": ["Hi {names}, welcome in!"]},
    "like": {"zh": ["谢谢大家的{count}个赞！"], "en": ["Thanks for the {count} likes, everyone!"]},
}


@dataclass
class Segment:
    name: str
    kind: str
    at: float
    duration: float
    lines: list[str]
    triggers: list[dict[str, Any]]
    ambience: str
    scene: str
    emotion: str
    interrupts: dict[str, Any]


@dataclass
class Show:
    """A loaded, valid show."""

    path: Path
    name: str
    description: str
    persona: dict[str, Any]
    voice: dict[str, Any]
    avatar: dict[str, Any]
    platforms: list[dict[str, Any]]
    obs: dict[str, Any]
    money: Money
    gifts: dict[str, Any]
    chat: dict[str, Any]
    interrupts: dict[str, Any]
    segments: list[Segment]
    idle: dict[str, Any]
    keys: dict[str, KeyDecl]
    tree: Any  # director.treeloader.NodeSpec
    files: list[Path] = field(default_factory=list)  # every file the show was read from
    viewer: dict[str, Any] = field(default_factory=lambda: {
        "enabled": True, "host": "127.0.0.1", "port": 8765})
    moderation: dict[str, Any] = field(default_factory=dict)  # MODERATION, word files resolved
    dialogue: dict[str, Any] = field(default_factory=lambda: {"engine": "templates"})

    @property
    def tiers(self) -> list[dict[str, Any]]:
        return list(self.gifts["tiers"])

    def tier_of(self, value: float) -> int:
        """1-based tier index for a gift value."""
        tier = 1
        for index, t in enumerate(self.gifts["tiers"], start=1):
            if value >= t["min"]:
                tier = index
        return tier


def _section(checked: dict[str, Any], name: str) -> dict[str, Any]:
    value = checked.get(name)
    if value is None:
        value = SHOW_FIELDS[name].spec.check({}, Place("", 0, 0), name, Checker())
    return dict(value)


def load_show(path: str | Path) -> Show:
    """Load and validate a show. Raises ShowErrors with every problem found."""
    from director.treeloader import TreeLoader  # tree kinds import behaviours, which import us

    path = Path(path)
    display = str(path)
    try:
        raw = read_yaml(path, display=display)
    except ShowErrors:
        raise
    except ShowLoadError as exc:
        raise ShowErrors([exc]) from None
    ck = Checker()
    if not isinstance(raw, YMap):
        raise ShowErrors([ShowLoadError(
            Place(display, 1, 1), "a show file must be a mapping with name, persona and tree",
            "see shows/asmr_night.yaml for an example")])
    checked = SHOW.check(raw, raw.place, "", ck)

    persona = dict(checked.get("persona") or {})
    replies = dict(persona.get("replies") or {})
    for situation, default in DEFAULT_REPLIES.items():
        replies[situation] = replies.get(situation) or default
    persona["replies"] = replies
    persona["self_talk"] = persona.get("self_talk") or DEFAULT_SELF_TALK
    crowd = dict(persona.get("crowd") or {})
    for kind, default in DEFAULT_CROWD.items():
        crowd[kind] = crowd.get(kind) or default
    persona["crowd"] = crowd
    persona.setdefault("topics", [])
    persona.setdefault("languages", ["en"])

    gifts = _section(checked, "gifts")
    gifts["tiers"] = gifts.get("tiers") or DEFAULT_TIERS
    gifts["aggregate_lines"] = gifts.get("aggregate_lines") or DEFAULT_AGGREGATE
    gifts["membership_lines"] = gifts.get("membership_lines") or DEFAULT_MEMBERSHIP
    gifts_node = raw.get("gifts")
    tiers_node = gifts_node.get("tiers") if isinstance(gifts_node, YMap) else None
    tiers_place = tiers_node.place if isinstance(tiers_node, YList) else raw.place
    mins = [t["min"] for t in gifts["tiers"] if t and t.get("min") is not None]
    if mins and (mins != sorted(mins) or len(set(mins)) != len(mins)):
        ck.bad(tiers_place,
               "gift tiers must be listed lowest first, each 'min' higher than the last",
               "reorder the tiers by 'min'")
    if mins and mins[0] != 0:
        ck.bad(tiers_place, f"the first gift tier must start at min: 0 (it starts at {mins[0]:g})",
               "add a tier for the smallest gifts")

    interrupts = _section(checked, "interrupts")
    segments = []
    for seg in checked.get("segments") or []:
        if not seg or seg.get("name") is None:
            continue
        segments.append(Segment(
            name=seg["name"], kind=seg["kind"], at=seg["at"] or 0.0,
            duration=seg["duration"] or 1.0,
            lines=[x for x in seg["lines"] if x], triggers=[t for t in seg["triggers"] if t],
            ambience=seg["ambience"], scene=seg["scene"], emotion=seg["emotion"],
            interrupts=seg["interruptible_by"] or dict(interrupts),
        ))
    # placed at the second use of the name (not at the list): that is the line to change
    seg_node = raw.get("segments")
    first_at: dict[str, int] = {}
    for index, seg in enumerate(checked.get("segments") or []):
        item = seg_node[index] if isinstance(seg_node, YList) else None
        if not seg or seg.get("name") is None or not isinstance(item, YMap):
            continue
        if seg["name"] in first_at:
            ck.bad(item.value_place("name"), f"two segments are called '{seg['name']}'",
                   f"the first is at line {first_at[seg['name']]}; give each its own name")
        first_at.setdefault(seg["name"], item.key_place("name").line)

    keys: dict[str, KeyDecl] = {}
    bb_node = raw.get("blackboard")
    for name, decl in (checked.get("blackboard") or {}).items():
        if not decl or decl.get("type") is None:
            continue
        kp = bb_node.key_place(name) if isinstance(bb_node, YMap) else raw.place
        if name in BUILTIN_KEYS:
            ck.bad(kp, f"'{name}' is a built-in blackboard key", "choose another name")
            continue
        types = KEY_TYPES[decl["type"]]
        initial: Any = decl.get("default")
        if initial is None:
            empty: dict[str, Any] = {"int": 0, "float": 0.0, "bool": False, "str": "", "list": []}
            initial = empty[decl["type"]]
        elif not isinstance(initial, types) or (isinstance(initial, bool) and decl["type"] in
                                                ("int", "float")):
            ck.bad(kp, f"default of '{name}' must be a {decl['type']}, got {initial!r}")
        keys[name] = KeyDecl(name, decl["type"], initial, decl.get("doc", ""))

    platforms = []
    plat_node = raw.get("platforms")
    for index, plat in enumerate(checked.get("platforms") or []):
        if not plat or plat.get("kind") is None:
            continue
        place = plat_node.item_place(index) if isinstance(plat_node, YList) else raw.place
        plat = dict(plat)
        if plat["kind"] == "sim" and plat.get("events"):
            events_path = (path.parent / plat["events"]).resolve()
            if not events_path.exists():
                ck.add(MissingFile(place, f"events file not found: {plat['events']}",
                                   f"looked for {events_path}"))
            plat["events"] = events_path
        platforms.append(plat)

    moderation = _section(checked, "moderation")
    mod_node = raw.get("moderation")
    word_files = []
    for index, name in enumerate(moderation.get("word_files") or []):
        files_node = mod_node.get("word_files") if isinstance(mod_node, YMap) else None
        place = files_node.item_place(index) if isinstance(files_node, YList) else raw.place
        word_path = (path.parent / name).resolve()
        if not word_path.is_file():
            ck.add(MissingFile(place, f"banned-word file not found: {name}",
                               f"looked for {word_path}"))
        word_files.append(word_path)
    moderation["word_files"] = word_files

    all_keys = dict(BUILTIN_KEYS)
    all_keys.update(keys)
    tree = None
    files = [path.resolve()]
    if "tree" in raw:
        loader = TreeLoader(show_path=path, keys=all_keys, checker=ck,
                            segments={s.name for s in segments})
        tree = loader.load_root(raw["tree"], raw.value_place("tree"))
        files.extend(loader.files)
    if ck.errors:
        raise ShowErrors(ck.errors)
    currency = _section(checked, "currency")
    return Show(
        path=path, name=checked["name"], description=checked.get("description", ""),
        persona=persona, voice=_section(checked, "voice"), avatar=_section(checked, "avatar"),
        platforms=platforms, obs=_section(checked, "obs"),
        money=Money(base=currency["base"], rates=currency["rates"]),
        gifts=gifts, chat=_section(checked, "chat"), interrupts=interrupts,
        segments=sorted(segments, key=lambda s: s.at), idle=_section(checked, "idle"),
        keys=keys, tree=tree, files=[*files, *word_files], viewer=_section(checked, "viewer"),
        moderation=moderation,
        dialogue=_section(checked, "dialogue"),
    )
