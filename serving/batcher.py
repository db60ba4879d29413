"""Pushes of many sessions gathered into one model step."""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Callable, Generic, TypeVar

Item = TypeVar("Item")


class Batcher(Generic[Item]):
    r"""Runs :obj:`step` on everything submitted while the previous call
    ran: no timer, so a lone push waits for nothing, and under load each
    call takes every push that arrived meanwhile (up to :obj:`max_batch`).

    :obj:`step` runs in the event loop itself. A push's step is mostly
    Python dispatching small ops, so a worker thread would not compute in
    parallel but would contend for the GIL (each switch can cost Python's
    5 ms switch interval); instead, requests that arrive during a step wait
    in the socket buffers and make up the next batch.

    Args:
        step (Callable[[list], list]): Maps items to results, one each; a
            result that is an exception is raised to its submitter.
        max_batch (int): Items per call at most; 1 steps them one by one.
    """

    def __init__(self, step: Callable[[list[Item]], list[Any]], max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch={max_batch}: expected a positive integer")
        self.step = step
        self.max_batch = max_batch
        self.calls = 0
        self.items = 0
        self._pending: deque[tuple[Item, asyncio.Future]] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: Item) -> Any:
        """Queue :obj:`item` for the next call of :obj:`step`; its result."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            # Started on first use, in the loop that serves the requests.
            self._loop, self._wake = loop, asyncio.Event()
            self._task = loop.create_task(self._run())
        future = loop.create_future()
        self._pending.append((item, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [self._pending.popleft()
                         for _ in range(min(self.max_batch, len(self._pending)))]
                try:
                    results = self.step([item for item, _ in batch])
                except Exception as error:  # noqa: BLE001 - every submitter hears of it
                    results = [error] * len(batch)
                self.calls += 1
                self.items += len(batch)
                for (_, future), result in zip(batch, results):
                    if future.done():  # its submitter went away
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                # Let the answered requests go out and new ones come in.
                await asyncio.sleep(0)

    async def stop(self) -> None:
        """Stop the loop (after the call in progress)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
