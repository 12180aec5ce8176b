"""Fixity's pure rules (issue 33): the audit's rotation, the `fixity:` settings, and how an S3
GetObjectAttributes answer is read, including AWS shapes the local stand-in never returns."""

from datetime import date, timedelta

from ngs_lake.config.fixity_settings import FixitySettings
from ngs_lake.fixity.rotation import sample_for
from ngs_lake.runs.fixity_checksums import checksum_from_attributes
from ngs_lake_tests.pure.lake_document import lake_config, problems_after

KEYS = [f"run/fastq_pass/reads_{i}.fastq.gz" for i in range(600)]


def test_each_object_is_audited_exactly_once_in_each_rotation():
    """Over any `slots` consecutive days, every key comes up once: nothing is skipped or
    repeated, whichever day the rotation starts."""
    settings = FixitySettings(audit_fraction=0.2, audit_period_days=7)  # 5 slots
    objects = [(k, 10, k) for k in KEYS]
    start = date(2026, 12, 7)
    for offset in (0, 3):
        seen: list[str] = []
        for day in range(settings.slots):
            today = start + timedelta(days=offset + day)
            seen += sample_for(today, "lake-prm-mad-01", objects, settings).chosen
        assert sorted(seen) == sorted(KEYS)
    daily = [len(sample_for(start + timedelta(d), "b", objects, settings).chosen) for d in range(5)]
    assert min(daily) > 60 and max(daily) < 180  # an even share, about 120 a day


def test_a_byte_budget_leaves_the_rest_for_later_and_says_how_much():
    settings = FixitySettings(audit_bytes_per_day="250 B", audit_period_days=1)
    sample = sample_for(date(2026, 12, 7), "b", [(k, 100, k) for k in KEYS[:5]], settings)
    assert (len(sample.chosen), len(sample.deferred), sample.deferred_bytes) == (2, 3, 300)


def test_the_fixity_settings_refuse_a_fraction_that_cannot_meet_the_period():
    assert problems_after(
        lambda d: d.update(fixity={"audit_fraction": 0.01, "audit_period_days": 30})
    ) == [
        "fixity: audit_fraction 0.01 a day reaches every object only every "
        "100 days, longer than audit_period_days (30); raise the fraction to at least 0.03333"
    ]
    assert problems_after(
        lambda d: d.update(fixity={"audit_fraction": 0.5, "audit_bytes_per_day": "1 TB"})
    ) == ["fixity: set audit_fraction or audit_bytes_per_day, not both (one sample rule)"]
    config = lake_config(lambda d: d.update(fixity={"audit_bytes_per_day": "2 TB"}))
    assert (config.fixity.audit_bytes_per_day, config.fixity.slots) == (2 * 10**12, 90)


def test_checksum_types_follow_awss_rules_where_the_stand_in_says_nothing():
    """A single-part object's checksum is FULL_OBJECT even unstated (moto leaves the type out);
    a multipart one without a stated type is COMPOSITE; AWS's `<value>-<parts>` form is read;
    a stated FULL_OBJECT CRC64NVME multipart checksum stays FULL_OBJECT; none is NONE
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html)."""
    sha = "3H/NxCcQreH3bIQHag8nMrCpZPDmhCP2pUTqaQkSOiE="
    single = checksum_from_attributes(
        "k", {"Checksum": {"ChecksumSHA256": sha}, "ETag": '"5d41402abc4b2a76b9719d911017c592"'}
    )
    assert (single.checksum_type, single.full_sha256_hex) == (
        "FULL_OBJECT",
        "dc7fcdc42710ade1f76c84076a0f2732b0a964f0e68423f6a544ea6909123a21",
    )
    parts = checksum_from_attributes(
        "k",
        {
            "Checksum": {"ChecksumSHA256": f"{sha}-3"},
            "ETag": '"8b0be7847da5564ae08e97af63b60885-3"',
        },
    )
    assert (parts.value, parts.checksum_type, parts.full_sha256_hex) == (sha, "COMPOSITE", None)
    crc = checksum_from_attributes(
        "k",
        {
            "Checksum": {"ChecksumCRC64NVME": "AAAAAAAAAAA=", "ChecksumType": "FULL_OBJECT"},
            "ETag": '"8b0be7847da5564ae08e97af63b60885-3"',
        },
    )
    assert (crc.algorithm, crc.checksum_type) == ("CRC64NVME", "FULL_OBJECT")
    none = checksum_from_attributes("k", {"ObjectSize": 5, "VersionId": "v1"})
    assert (none.algorithm, none.value, none.checksum_type, none.version_id) == (
        None,
        None,
        "NONE",
        "v1",
    )
