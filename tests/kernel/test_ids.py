"""kernel.ids: ids keep their shape and order, and a forked process never repeats its parent's random part."""

from __future__ import annotations

import os
import re

from kernel.ids import new_id


def test_shape_uniqueness_and_order() -> None:
    ids = [new_id("t") for _ in range(3000)]  # more than one batch of random digits
    assert all(re.fullmatch(r"t_[0-9a-f]{23}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # the time part never goes back


def test_a_forked_child_draws_its_own() -> None:
    new_id("t")  # the parent holds a batch
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the next id of the parent's batch must not come out here
        os.write(write, new_id("c").encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child[-12:] != new_id("p")[-12:]
