"""The closed list of sequencer platforms and the instrument family that knows each one's files.

The ids are used verbatim in the config document, the simulator, message attributes and consumer
filter policies, so adding one is a schema change (ARCHITECTURE §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    ILLUMINA = "illumina"
    NANOPORE = "nanopore"
    PACBIO = "pacbio"
    ELEMENT = "element"


GB = 10**9


@dataclass(frozen=True)
class Platform:
    id: str
    family: Family
    model: str
    # Full-time output in bytes per hour, for capacity planning before the lake has one.
    nominal_data_rate: float


PLATFORMS: dict[str, Platform] = {
    p.id: p
    for p in (
        Platform("novaseq-x", Family.ILLUMINA, "NovaSeq X", 20 * GB),
        Platform("novaseq-6000", Family.ILLUMINA, "NovaSeq 6000", 12 * GB),
        Platform("nextseq-2000", Family.ILLUMINA, "NextSeq 2000", 4 * GB),
        Platform("nextseq-1000", Family.ILLUMINA, "NextSeq 1000", 2 * GB),
        Platform("nextseq-550", Family.ILLUMINA, "NextSeq 550", 2 * GB),
        Platform("miniseq", Family.ILLUMINA, "MiniSeq", 0.5 * GB),
        Platform("miseq", Family.ILLUMINA, "MiSeq", 0.5 * GB),
        Platform("iseq-100", Family.ILLUMINA, "iSeq 100", 0.2 * GB),
        Platform("promethion", Family.NANOPORE, "PromethION", 10 * GB),
        Platform("gridion", Family.NANOPORE, "GridION", 2 * GB),
        Platform("minion", Family.NANOPORE, "MinION (and Flongle)", 0.5 * GB),
        Platform("revio", Family.PACBIO, "Revio", 6 * GB),
        Platform("sequel-2", Family.PACBIO, "Sequel II/IIe", 2 * GB),
        Platform("aviti", Family.ELEMENT, "AVITI", 5 * GB),
    )
}

PLATFORM_IDS: tuple[str, ...] = tuple(PLATFORMS)


def family_of(platform: str) -> PlatformFamily:
    """The family module that knows this platform's files."""
    try:
        return _FAMILIES[PLATFORMS[platform].family]
    except KeyError:
        raise ValueError(
            f"unknown platform {platform!r}; expected one of: {', '.join(PLATFORM_IDS)}"
        ) from None


from ngs_lake.platforms.base import PlatformFamily  # noqa: E402
from ngs_lake.platforms.element import Element  # noqa: E402
from ngs_lake.platforms.illumina import Illumina  # noqa: E402
from ngs_lake.platforms.nanopore import Nanopore  # noqa: E402
from ngs_lake.platforms.pacbio import PacBio  # noqa: E402

_FAMILIES: dict[Family, PlatformFamily] = {
    Family.ILLUMINA: Illumina(),
    Family.NANOPORE: Nanopore(),
    Family.PACBIO: PacBio(),
    Family.ELEMENT: Element(),
}
