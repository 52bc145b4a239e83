"""Quarantined raw records must not keep an owner's CPF in clear."""

from __future__ import annotations

import pytest

from adapters.receita.reader import mask_cpfs


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"12345678";"MARIA 12345678901";"2135"', '"12345678";"MARIA ***.***.***-**";"2135"'),
        ('"MARIA";"123.456.789-01"', '"MARIA";"***.***.***-**"'),
        ('"11222333000181";"20210101"', '"11222333000181";"20210101"'),
        ('"***123456**";"21";"987654321"', '"***123456**";"21";"987654321"'),
    ],
)
def test_mask_cpfs_in_raw_record(raw: str, expected: str) -> None:
    assert mask_cpfs(raw) == expected
