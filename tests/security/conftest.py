"""The security suite's shared stack: one whole stack for the package (the gateway fuzz module
starts its own, with the flood thresholds raised)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parallax_cli.stack import Stack, running_stack

from .helpers import STACK_ENV


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("security"), free_ports=True, extra_env=STACK_ENV) as running:
        yield running
