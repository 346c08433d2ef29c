"""Keep the network busy over a batch: read the next image and write the previous one while the current one runs.

Three stages per job: ``prepare`` (decode, checks) in a reader thread one job ahead, ``compute`` (the network) in
the caller's thread, ``finish`` (encode, atomic write) in a writer thread one job behind. Decoding and encoding
(Pillow, OpenCV, numpy) release the GIL, as do the backends' kernels, so the three overlap. At most one prepared
input and one finished output wait beside the current job, so memory stays that of three images.

Interrupting (^C) the caller's thread cancels the read ahead and waits for the write of the image already computed,
which is atomic: the output folder then holds only complete files, and no finished work is thrown away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

J = TypeVar("J")
P = TypeVar("P")
R = TypeVar("R")
F = TypeVar("F")


class Skip(Generic[F]):
    """What ``prepare`` returns for a job that needs no computing (e.g. its output exists and is complete)."""

    def __init__(self, outcome: F) -> None:
        self.outcome = outcome


def overlapped(
    jobs: Sequence[J],
    prepare: Callable[[J], P | Skip[F]],
    compute: Callable[[J, P], R],
    finish: Callable[[J, R], F],
    recoverable: tuple[type[BaseException], ...] = (Exception,),
) -> Iterator[tuple[J, F | BaseException]]:
    """Yield ``(job, outcome)`` in job order; outcome is ``finish``'s result, a :class:`Skip`'s, or the
    ``recoverable`` exception any stage raised for that job (others propagate and end the batch)."""
    if not jobs:
        return
    reader = ThreadPoolExecutor(1, thread_name_prefix="mmrealsr-read")
    writer = ThreadPoolExecutor(1, thread_name_prefix="mmrealsr-write")
    try:
        upcoming: Future = reader.submit(prepare, jobs[0])
        writing: tuple[J, Future] | None = None
        for index, job in enumerate(jobs):
            current = upcoming
            if index + 1 < len(jobs):
                upcoming = reader.submit(prepare, jobs[index + 1])
            done, outcome, result = True, None, None  # done: nothing to write for this job
            try:
                prepared = current.result()
                if isinstance(prepared, Skip):
                    outcome = prepared.outcome
                else:
                    result, done = compute(job, prepared), False
            except recoverable as exc:
                outcome = exc
            if writing is not None:  # the previous job's write overlapped this job's compute
                yield writing[0], _outcome(writing[1], recoverable)
                writing = None
            if done:
                yield job, outcome
            else:
                writing = (job, writer.submit(finish, job, result))
        if writing is not None:
            yield writing[0], _outcome(writing[1], recoverable)
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True)  # the one computed image in the writer is written (atomically) before we leave


def _outcome(future: Future, recoverable: tuple[type[BaseException], ...]) -> object:
    try:
        return future.result()
    except recoverable as exc:
        return exc
