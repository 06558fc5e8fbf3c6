"""Everything `needledrop models info` reports of a model bundle, as plain data: its files and their shapes,
its preprocessing, its licences, and where its graphs run on this machine."""

from __future__ import annotations

import msgspec

from engine.backbones import MusicBackbone
from engine.bundle import Bundle, create_session
from engine.media import sfx_embedding


def model_details(bundle: Bundle) -> dict:
    """The bundle's manifest, file sizes and the execution its sessions get here."""
    manifest = bundle.manifest
    # The smallest graph is enough to learn which device sessions really get.
    smallest = min(manifest.graphs, key=lambda role: bundle.graph_path(role).stat().st_size)
    _, execution = create_session(bundle.graph_path(smallest))
    # The scan's backbone may run elsewhere: in bfloat16 through OpenVINO, where the CPU computes it.
    scan = MusicBackbone(bundle).execution
    # ... and its drum network in bfloat16 there, or in int8 on a CPU without it.
    drums = None
    if manifest.preprocessing.drum_sfx is not None and sfx_embedding.ROLE in manifest.graphs:
        listener = sfx_embedding.SfxEmbedder(bundle, reduced=True)
        drums = f"{listener.execution.describe()}, {listener.graph}"

    def tensors(specs):
        return [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in specs]

    return {
        "bundle_id": bundle.id,
        "path": str(bundle.path),
        "schema_version": manifest.schema_version,
        "created": manifest.created,
        "needledrop_version": manifest.needledrop_version,
        "embedding_dim": manifest.embedding_dim,
        "execution": {
            "provider": execution.provider,
            "device": execution.device,
            "onnxruntime": f"{execution.ort_package} {execution.ort_version}",
            "intra_op_threads": execution.intra_op_threads,
            "note": execution.note,
            "music_backbone": scan.describe(),
            "drum_network": drums,  # None: the bundle has none
        },
        "graphs": {
            role: {
                "file": g.file,
                "size_bytes": bundle.graph_path(role).stat().st_size,
                "sha256": g.sha256,
                "inputs": tensors(g.inputs),
                "outputs": tensors(g.outputs),
                "source": g.source,
                "parity_max_abs_diff": g.parity_max_abs_diff,
            }
            for role, g in manifest.graphs.items()
        },
        "files": {
            name: {"file": f.file, "size_bytes": bundle.file_path(name).stat().st_size, "sha256": f.sha256}
            for name, f in manifest.files.items()
        },
        "labels": {name: len(values) for name, values in manifest.labels.items()},
        "preprocessing": msgspec.to_builtins(manifest.preprocessing),
        "licences": [{"component": x.component, "licence": x.licence, "source": x.source} for x in manifest.licences],
        "metrics": manifest.metrics,
    }
