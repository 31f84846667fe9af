"""The engine sidecar ``<engine>.json`` — kept as an import path; it lives in :mod:`ssd_edge.contract`."""
from ..contract import (SIDECAR_SCHEMA, engine_matches, engine_sidecar_path,  # noqa: F401
                        file_sha256, read_sidecar, rebuild_command, write_sidecar)

sidecar_path = engine_sidecar_path
