#!/usr/bin/env python3
"""Executes one notebook headless with nbclient and writes the executed copy.

usage: execute.py NOTEBOOK OUTPUT --kernel NAME --timeout SECONDS

Run by run-notebooks.mjs (`pnpm notebooks:test`), with the Python that has
Jupyter (Debian's /usr/bin/python3 after `pnpm notebooks:setup`). Exits 1 when
a cell raises, after writing the notebook up to that cell.

Why not plain `jupyter nbconvert --execute`: Deno's kernel (2.x) sometimes
publishes the last stdout lines of a cell just *after* its 'idle' status, and
nbclient stops listening for a cell at 'idle', so those lines went missing
from the executed notebook (in JupyterLab they show, as it routes output by
the request's id). This client keeps listening after 'idle' until no message
of the cell has come for GRACE seconds.
"""
import argparse
import sys
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellExecutionError
from nbclient.util import ensure_async

GRACE = 0.15


class LateOutputClient(NotebookClient):
    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        while True:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=GRACE))
            except Empty:
                return
            if msg["parent_header"].get("msg_id") == parent_msg_id and msg["msg_type"] != "status":
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    pass


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("notebook")
    p.add_argument("output")
    p.add_argument("--kernel", required=True)
    p.add_argument("--timeout", type=int, default=120, help="per cell, seconds")
    a = p.parse_args()
    path = Path(a.notebook).resolve()
    nb = nbformat.read(path, as_version=4)
    client = LateOutputClient(
        nb,
        kernel_name=a.kernel,
        timeout=a.timeout,
        startup_timeout=60,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    status = 0
    try:
        client.execute()
    except CellExecutionError as e:
        print(e, file=sys.stderr)
        status = 1
    finally:
        nbformat.write(nb, a.output)
    return status


if __name__ == "__main__":
    sys.exit(main())
