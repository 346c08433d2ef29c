"""The warm worker: one process per GIMP session that keeps the model loaded between plug-in calls.

GIMP starts a new plug-in process for every call, so the worker must outlive it: the plug-in starts this server on
its first call (``worker --serve ADDRESS``, a socket, or a named pipe on Windows, with a secret key only this user
can read) and connects to it on every later one. One call at a time, each with the one-shot worker's events and
checks (:func:`.worker.run_worker`), so the plug-in's side validates both alike.

- **Cancel**: GIMP answers Cancel in its progress bar by killing the plug-in, which closes the connection. The
  server notices within :data:`POLL_S`, the call stops at the next tile and writes nothing, and the worker stays
  warm. If the current tile is still running :data:`CANCEL_GRACE_S` later (a big tile on a CPU takes minutes), the
  server ends itself so the CPU is free within 2 s; the next call starts a new one and says so.
- **Lifetime**: it ends with GIMP (``--owner``, POSIX) or after ``--idle`` seconds without a call
  (:data:`IDLE_S` by default, see nodes/gimp/README.md), removing its socket.
- **A crash** leaves a socket nobody answers: the next call starts a new worker and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, Listener
from pathlib import Path

from mmrealsr_plugin.cli.exit_codes import EXIT_FAILED, EXIT_OK

from .mmrealsr_gimp.channel import IDLE_S, address_family, encode_event
from .worker import ModelCache, run_worker

POLL_S = 0.1
"""How often a running call looks at its connection (for Cancel) and the watchdog at GIMP and the clock."""
CANCEL_GRACE_S = 1.5
"""How long a cancelled call may take to reach its next tile before the server ends itself instead."""
EXIT_CANCELLED = 3


def _log(message: str) -> None:
    print(f"[mmrealsr-gimp-worker {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # POSIX only: signal 0 checks existence (on Windows it would terminate the process)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def readable(connection: Connection) -> bool:
    """Whether the plug-in sent something or went away (both mean Cancel during a call); never blocks."""
    try:
        return connection.poll(0)
    except (EOFError, OSError):
        return True


class Server:
    def __init__(self, listener: Listener, key_file: Path, owner: int, idle: float) -> None:
        self.listener = listener
        self.key_file = key_file
        self.owner = owner if os.name == "posix" else 0
        self.idle = idle
        self.models = ModelCache()
        self.busy = False
        self.last = time.monotonic()

    def watchdog(self) -> None:
        """End the process when GIMP is gone or nothing happened for ``idle`` seconds."""
        while True:
            time.sleep(POLL_S * 5)
            if self.owner and not _alive(self.owner):
                self.stop(f"GIMP (process {self.owner}) has ended")
            if not self.busy and time.monotonic() - self.last > self.idle:
                self.stop(f"idle for {self.idle:g} s")

    def stop(self, why: str, code: int = EXIT_OK) -> None:
        """End the process. A normal end removes the key too; after a forced end (``code`` not EXIT_OK) the key stays,
        so the next call finds a key without a worker and says the previous one is gone, as after a crash."""
        _log(f"ending: {why}")
        try:
            self.listener.close()  # removes the socket file
            if code == EXIT_OK:
                self.key_file.unlink(missing_ok=True)
        finally:
            os._exit(code)  # also from the watchdog thread, with the main thread blocked in accept()

    def serve_one(self, connection: Connection, parse: argparse.ArgumentParser) -> None:
        request = json.loads(connection.recv_bytes().decode("utf-8"))
        finished, cancel, answered = threading.Event(), threading.Event(), threading.Event()
        started = time.monotonic()
        noticed: list[float] = []
        served: dict[str, object] = {}

        def note_cancel() -> None:
            if not cancel.is_set():
                noticed.append(time.monotonic())
                cancel.set()

        def emit(event: str, **fields: object) -> None:
            if event == "done":
                fields["seconds"] = round(time.monotonic() - started, 3)
                served.update(fields)
            if event in ("done", "error"):
                answered.set()  # the plug-in may close the connection from now on: that is no Cancel
            try:
                connection.send_bytes(encode_event(event, **fields).encode("utf-8"))
            except OSError:
                note_cancel()  # the plug-in is gone

        def cancelled() -> bool:
            """Asked after every tile: a message or the connection closing (GIMP killed the plug-in) cancels."""
            if not answered.is_set() and readable(connection):
                note_cancel()
            return cancel.is_set()

        def watch() -> None:
            """The same check between tiles' ends: a tile still running CANCEL_GRACE_S after Cancel ends the
            process, so the CPU is free within 2 s even when one tile takes minutes."""
            while not (finished.is_set() or answered.is_set() or cancel.is_set()):
                try:
                    if connection.poll(POLL_S):
                        break
                except (EOFError, OSError):
                    break
            if finished.is_set() or answered.is_set():
                return
            note_cancel()
            if not finished.wait(CANCEL_GRACE_S):
                self.stop(f"cancelled, but the running tile did not end within {CANCEL_GRACE_S} s", EXIT_CANCELLED)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            try:
                args = parse.parse_args(request["argv"])
            except (SystemExit, argparse.ArgumentError, KeyError, TypeError) as exc:
                emit("error", message=f"the plug-in sent a request this worker does not understand ({exc!r}); "
                                      "rerun `mmrealsr gimp install`")
                return
            _log(f"serving {args.task} of {len(args.input)} image(s)")
            run_worker(args, emit=emit, models=self.models, cancelled=cancelled)
        finally:
            finished.set()
            watcher.join()
        if noticed:
            _log(f"cancelled: the call stopped {time.monotonic() - noticed[0]:.2f} s after the plug-in went away")
        elif served:
            _log(f"served {args.task} in {served['seconds']} s, computing {served.get('compute_s')} s")

    def run(self, parse: argparse.ArgumentParser) -> int:
        threading.Thread(target=self.watchdog, daemon=True).start()
        while True:
            try:
                connection = self.listener.accept()
            except (AuthenticationError, OSError, EOFError) as exc:  # a wrong key, or a client gone at once
                _log(f"refused a connection: {exc!r}")
                continue
            self.busy = True
            try:
                with connection:
                    self.serve_one(connection, parse)
            except (OSError, EOFError, ValueError) as exc:
                _log(f"a call broke off: {exc!r}")
            finally:
                self.busy, self.last = False, time.monotonic()


def serve(args: argparse.Namespace) -> int:
    """``worker --serve ADDRESS --key-file FILE [--owner PID] [--idle S]``: serve plug-in calls until GIMP ends."""
    from .worker import add_arguments

    if args.key_file is None:
        _log("--serve needs --key-file")
        return EXIT_FAILED
    key = args.key_file.read_bytes()
    if os.name == "posix" and os.path.exists(args.serve):
        os.unlink(args.serve)  # a socket a crashed worker left behind
    listener = Listener(args.serve, address_family(args.serve), authkey=key)
    _log(f"listening at {args.serve} (owner {args.owner or 'not watched'}, idle limit {args.idle or IDLE_S:g} s)")
    parse = argparse.ArgumentParser(prog="mmrealsr-gimp-worker", add_help=False, exit_on_error=False)
    add_arguments(parse)
    return Server(listener, args.key_file, args.owner, args.idle or IDLE_S).run(parse)
