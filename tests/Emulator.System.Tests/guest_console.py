"""A guest's serial console over AttachConsole, for the Python control-plane tests.

Imported by control_plane.py and cluster.py (the test puts this folder on sys.path).
"""
import codecs
import queue
import re
import sys
import threading
import time

import grpc
from emulator.v1 import machine_pb2 as pb

COMMAND_SECONDS = 60


class GuestConsole:
    """AttachConsole: requests come from a queue this side feeds, a thread gathers the output."""

    def __init__(self, stub, machine_id, metadata=None):
        self._inputs = queue.Queue()
        self._inputs.put(pb.ConsoleInput(machine_id=machine_id))
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._changed = threading.Condition()
        self._text = ""
        self._seen = 0
        self.ended = None  # the status name once the stream has ended
        self._call = stub.AttachConsole(self._requests(), metadata=metadata)
        threading.Thread(target=self._read, daemon=True).start()

    def _requests(self):
        while (item := self._inputs.get()) is not None:
            yield item

    def _read(self):
        try:
            for output in self._call:
                with self._changed:
                    self._text += self._decoder.decode(output.data)
                    self._changed.notify_all()
            end = "OK"
        except grpc.RpcError as err:
            end = err.code().name
            print("console:", end, err.details(), file=sys.stderr, flush=True)
        with self._changed:
            self.ended = end
            self._changed.notify_all()

    def type(self, text):
        self._inputs.put(pb.ConsoleInput(data=text.encode()))

    def wait_for(self, pattern, seconds=COMMAND_SECONDS):
        """The first match of the regex in output not matched before; raises on timeout or end."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + seconds
        with self._changed:
            while True:
                match = regex.search(self._text, self._seen)
                if match:
                    self._seen = match.end()
                    return match
                left = deadline - time.monotonic()
                if self.ended is not None or left <= 0:
                    why = f"the console ended ({self.ended})" if self.ended else f"{seconds} s passed"
                    raise RuntimeError(f"{why} before {pattern!r}; last output:\n{self._text[-2000:]}")
                self._changed.wait(left)

    def run(self, command, pattern):
        """Types a command line and waits for its output. The pattern must not match the
        echoed command line itself (echo $((6*7))-ok is echoed as typed, answered as 42-ok)."""
        self.type(command + "\n")
        return self.wait_for(pattern)

    def wait_ended(self, seconds=COMMAND_SECONDS):
        with self._changed:
            self._changed.wait_for(lambda: self.ended is not None, seconds)
        return self.ended

    def close(self):
        self._inputs.put(None)
