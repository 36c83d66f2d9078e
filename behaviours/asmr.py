"""ASMR segments: whispered lines and trigger sounds over a scheduled stretch of show time.

The segment runs while it is ticked. When a higher priority takes over (only what the show's
tree lets through, typically big gifts and super chats), it records the interruption, cuts the
current line, and freezes its clock; when it is ticked again it resumes with its remaining time and
says the interrupted line again. Progress lives in the ledger, so this also survives a restart.

Sound (on the Stage's mixer, when it has one): the lines are whispered by the voice (the
`whisper` emotion runs the whisper chain), trigger sounds are placed on the `triggers` layer at
their segment-time schedule with their gain and pan, and the ambience bed is a seamless loop laid
end to end on the `ambience` layer a little ahead of the show clock. Gain changes are mixer
automation, never steps: the bed and triggers fade in at the start, dip (the bed ducks, triggers
go quiet) when a gift interrupts, come back when the segment resumes, and fade out at its end.
The sounds are rendered by the shared `SoundBank` on a thread when the tree is built, so a tick
only places arrays it already has. While interrupted the node is not ticked, so the bed plays on
(ducked) only as far as it was laid; its last loop fades out at its end instead of stopping dead.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from behaviours.base import FAILURE, INVALID, RUNNING, SUCCESS, ShowBehaviour
from director.services.asmr_audio import BANK, Audio, pan
from director.services.audio import FADE_S, Clip, Mixer
from director.services.dialogue import fill
from director.services.handles import Handle
from director.showfile import Segment
from director.spec import Field, Str

log = logging.getLogger("director.segment")

BED_GAIN = 0.5  # the ambience bed under everything (its loops peak at -10 dBFS; this is -16)
DUCK = 0.3  # the bed's gain (× BED_GAIN) while a gift interrupts the segment
FADE_IN_S, DIP_S, RESUME_S, FADE_OUT_S = 1.5, 0.6, 1.2, 2.0
LAY_AHEAD_S = 2.0  # the next bed loop is laid when the bed ends less than this ahead


def _sound_keys(segments: list[Segment]) -> list[str]:
    keys = [f"ambience:{s.ambience}" for s in segments if s.ambience]
    return keys + [f"trigger:{t['sound']}" for s in segments for t in s.triggers]


class AsmrSegment(ShowBehaviour):
    kind = "asmr_segment"
    doc = ("Run the due segment (or the named one once it is due): whispered lines spread over "
           "its duration, trigger sounds on their schedule, its scene; interruptible only by "
           "what the tree puts above it; resumes with its remaining time. Fails when no segment "
           "is due.")
    params = {
        "segment": Field(Str(), "segment name ('' = whichever is due)", default=""),
    }
    reads = ("segment.due",)
    seg: Segment | None = None
    line: Handle[Any] | None = None
    last = 0.0
    bed: list[Clip]
    bed_name = ""
    bed_loop: Audio | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bed = []
        BANK.request(_sound_keys(self.ctx.show.segments))

    @classmethod
    def validate(cls, node: Any, raw: Any, loader: Any) -> None:
        name = node.params.get("segment")
        if name and name not in loader.segments:
            from director.spec import did_you_mean

            loader.ck.unknown(raw.value_place("segment"), f"no segment called '{name}'",
                              did_you_mean(name, loader.segments) or "add it under 'segments:'")

    def initialise(self) -> None:
        self.seg = self.line = None
        ctx = self.ctx
        now = self.now()
        book = ctx.segments
        due = book.due(now)
        wanted = self.p["segment"]
        if due is None or (wanted and due.name != wanted):
            return
        self.seg = due
        row = book.row(due.name)
        if row.start_s is None:
            row.start_s = now
            log.info("segment '%s' starts (%.0f s)", due.name, due.duration)
        elif row.interruptions and row.interruptions[-1]["resumed_s"] is None:
            row.interruptions[-1]["resumed_s"] = now
            log.info("segment '%s' resumes with %.0f s left", due.name, book.remaining(due))
        book.save(due.name)
        self.last = now
        self.next_trigger = [self._next_due(row.elapsed_s, t["every_s"]) for t in due.triggers]
        scene = due.scene or ctx.show.obs["scenes"].get(due.kind, "")
        ctx.stage.obs.switch_scene(scene, now)
        ctx.stage.avatar.express(due.emotion, now)
        mixer = self._mixer()
        if mixer is not None:
            BANK.request(_sound_keys([due]))
            resuming = bool(row.interruptions) and row.interruptions[-1]["resumed_s"] == now
            for layer in ("ambience", "triggers"):
                if resuming:
                    mixer.ramp(layer, 1.0, at=now, over=RESUME_S)
                else:  # the start (or the first tick after a restart): fade in from silence
                    mixer.ramp(layer, 1.0, at=now, over=FADE_IN_S, start=0.0)
            self._lay_bed(mixer, due, now)

    def _mixer(self) -> Mixer | None:
        return getattr(self.ctx.stage, "audio", None)

    def _lay_bed(self, mixer: Mixer, seg: Segment, now: float) -> None:
        """Keep the ambience bed laid until a little ahead of `now`."""
        raw = BANK.get(f"ambience:{seg.ambience}") if seg.ambience else None
        if raw is None:
            return
        if self.bed_name != seg.ambience or self.bed_loop is None:
            self.bed, self.bed_name = [], seg.ambience
            self.bed_loop = raw * np.float32(BED_GAIN)  # one array, shared by every loop laid
        loop = self.bed_loop
        end = self.bed[-1].end if self.bed else float("-inf")
        if end < now:  # nothing playing: start again now (the ramp fades it in)
            end = now
        elif self.bed and len(self.bed[-1].samples) < len(loop):  # it was faded out: overlap
            end = max(now, end - FADE_S)
        while end < now + LAY_AHEAD_S:
            clip = mixer.play(loop, layer="ambience", at=end)
            self.bed.append(clip)
            end = clip.end
        self.bed = self.bed[-3:]

    def _end_bed(self, mixer: Mixer, at: float) -> None:
        """Stop the bed at show time `at` (or at its own end, if that comes first), faded."""
        for clip in self.bed:
            if clip.start >= at:
                clip.samples = clip.samples[:0]
            elif clip.end > at:
                mixer.cut(clip, at)
        laid = [c for c in self.bed if len(c.samples)]
        if laid and laid[-1].end <= at:
            mixer.cut(laid[-1], laid[-1].end - FADE_S)

    @staticmethod
    def _next_due(elapsed: float, every: float) -> float:
        return (int(elapsed / every) + 1) * every

    def update(self) -> Any:
        seg = self.seg
        if seg is None:
            return FAILURE
        ctx = self.ctx
        now = self.now()
        row = ctx.segments.row(seg.name)
        row.elapsed_s = min(seg.duration, row.elapsed_s + max(0.0, now - self.last))
        self.last = now
        mixer = self._mixer()
        if mixer is not None and row.elapsed_s < seg.duration:
            self._lay_bed(mixer, seg, now)
        for i, trigger in enumerate(seg.triggers):
            if row.elapsed_s >= self.next_trigger[i]:
                self.next_trigger[i] = self._next_due(row.elapsed_s, trigger["every_s"])
                sound = BANK.get(f"trigger:{trigger['sound']}")
                if mixer is not None and sound is not None:
                    mixer.play(pan(sound, trigger["pan"]), layer="triggers", at=now,
                               gain=trigger["gain"])
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("trigger %s gain %.2f pan %.2f", trigger["sound"], trigger["gain"],
                              trigger["pan"])
        speaking = self.line is not None and not self.line.done()
        if not speaking:
            if self.line is not None:
                self.line = None
                row.next_line += 1
                ctx.segments.save(seg.name)
            n = len(seg.lines)
            if row.next_line < n and row.elapsed_s >= row.next_line * seg.duration / n:
                text = fill(seg.lines[row.next_line], {
                    "topic": ctx.rng.choice(ctx.show.persona["topics"] or [""]),
                    "name": ctx.show.persona["name"]})
                if row.elapsed_s + 1.0 < seg.duration:
                    self.line = ctx.stage.voice.speak(text, reason="asmr", emotion=seg.emotion)
                    return RUNNING
        if row.elapsed_s >= seg.duration and self.line is None:
            row.end_s = now
            ctx.segments.save(seg.name)
            log.info("segment '%s' ends", seg.name)
            if mixer is not None:
                for layer, over in (("ambience", FADE_OUT_S), ("triggers", FADE_OUT_S / 2)):
                    mixer.ramp(layer, 0.0, at=now, over=over)
                self._end_bed(mixer, now + FADE_OUT_S)
                self.bed = []
            ctx.stage.obs.switch_scene(ctx.show.obs["scenes"].get("default", ""), now)
            ctx.stage.avatar.express("neutral", now)
            self.seg = None
            return SUCCESS
        return RUNNING

    def terminate(self, new_status: Any) -> None:
        seg = self.seg
        if new_status != INVALID or seg is None:
            return
        ctx = self.ctx
        now = self.now()
        row = ctx.segments.row(seg.name)
        row.elapsed_s = min(seg.duration, row.elapsed_s + max(0.0, now - self.last))
        if self.line is not None:
            if self.line.done():
                row.next_line += 1
            else:
                self.line.cancel()  # said again on resume
            self.line = None
        row.interruptions.append({"at_s": round(now, 3), "resumed_s": None, "by": None})
        mixer = self._mixer()
        if mixer is not None:  # the bed ducks under the gift, triggers go quiet
            mixer.ramp("ambience", DUCK, at=now, over=DIP_S)
            mixer.ramp("triggers", 0.0, at=now, over=DIP_S)
            self._end_bed(mixer, float("inf"))
        ctx.segments.save(seg.name)
        log.info("segment '%s' interrupted with %.0f s left", seg.name,
                 ctx.segments.remaining(seg))
        self.seg = None
