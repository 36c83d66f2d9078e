"""The mailbox between the show and the renderer process: the latest state, never a queue.

One shared-memory block holds two slots, each guarded by a sequence number (a seqlock): the
main process writes the avatar state into the first, the renderer writes its status (frames drawn,
frame rate, decision-to-frame latency, the avatar it shows, its last error) into the second. A
writer makes the sequence odd, writes, and makes it even again; a reader copies the slot and
retries if the sequence moved or was odd. Nobody waits on anybody: a stalled or dead renderer
cannot block the tick, and a renderer only ever sees the newest state (old ones are overwritten,
which is what "draw from the latest state" means). A restarted renderer attaches to the same
block and finds the current state at once.

Rejected: a `multiprocessing.Pipe` (a writer blocks once the pipe's buffer is full, e.g. while the
renderer is stuck, and the reader must drain stale messages) and a `Queue` (a feeder thread and
the same staleness).
"""

from __future__ import annotations

import contextlib
import json
import struct
from multiprocessing import shared_memory
from typing import Any

SLOT = 32 * 1024  # bytes per slot; a state is ~300 bytes of JSON
_HEAD = struct.Struct("<QI")  # sequence, payload length


class SlotTooSmall(ValueError):
    """A message does not fit its slot."""


class Channel:
    """The shared block: `publish`/`latest` for the state, `report`/`status` for the renderer."""

    STATE, STATUS = 0, 1

    def __init__(self, shm: shared_memory.SharedMemory, *, owner: bool) -> None:
        self.shm = shm
        self.owner = owner
        buf = shm.buf
        assert buf is not None
        self.buf: memoryview = buf
        self._seen = [-1, -1]
        self._cache: list[dict[str, Any] | None] = [None, None]

    @classmethod
    def create(cls) -> Channel:
        # a new block is zero-filled (ftruncate): sequence 0 reads as "nothing yet"
        return cls(shared_memory.SharedMemory(create=True, size=2 * SLOT), owner=True)

    @classmethod
    def attach(cls, name: str) -> Channel:
        # a spawned renderer shares its parent's resource tracker, so attaching registers the
        # block a second time (a no-op there): the creating process alone unlinks it
        return cls(shared_memory.SharedMemory(name=name), owner=False)

    @property
    def name(self) -> str:
        return self.shm.name

    def _write(self, slot: int, message: dict[str, Any]) -> None:
        payload = json.dumps(message, separators=(",", ":")).encode()
        if len(payload) > SLOT - _HEAD.size:
            raise SlotTooSmall(f"message of {len(payload)} bytes does not fit ({SLOT} bytes)")
        base = slot * SLOT
        seq = _HEAD.unpack_from(self.buf, base)[0]
        seq += 1 if seq % 2 == 0 else 2  # odd: being written
        struct.pack_into("<Q", self.buf, base, seq)
        self.buf[base + _HEAD.size: base + _HEAD.size + len(payload)] = payload
        _HEAD.pack_into(self.buf, base, seq + 1, len(payload))  # even: complete

    def _read(self, slot: int) -> tuple[int, dict[str, Any] | None]:
        base = slot * SLOT
        for _ in range(100):
            seq, length = _HEAD.unpack_from(self.buf, base)
            if seq == 0:
                return 0, None
            if seq % 2:
                continue
            if seq == self._seen[slot]:
                return seq, self._cache[slot]
            payload = bytes(self.buf[base + _HEAD.size: base + _HEAD.size + length])
            if _HEAD.unpack_from(self.buf, base)[0] != seq:
                continue
            try:
                message = json.loads(payload)
            except ValueError:
                continue
            self._seen[slot], self._cache[slot] = seq, message
            return seq, message
        return self._seen[slot], self._cache[slot]

    def publish(self, state: dict[str, Any]) -> None:
        """Main process: replace the state the renderer draws from (never blocks)."""
        self._write(self.STATE, state)

    def latest(self) -> tuple[int, dict[str, Any] | None]:
        """Renderer: (sequence, newest state); the same sequence means nothing new."""
        return self._read(self.STATE)

    def report(self, status: dict[str, Any]) -> None:
        """Renderer: replace its status."""
        self._write(self.STATUS, status)

    def status(self) -> dict[str, Any]:
        """Main process: the renderer's newest status ({} before its first frame)."""
        return self._read(self.STATUS)[1] or {}

    def close(self) -> None:
        del self.buf  # the block cannot close while a view of it is held
        self.shm.close()
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                self.shm.unlink()
