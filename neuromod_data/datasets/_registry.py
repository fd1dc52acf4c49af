"""Where the real public files live, and their checksums.

``sha256 = None`` means no checksum could be verified when this registry was written (the source
was not reachable from the machine that wrote it). Such a file is accepted on first download, its
SHA-256 is logged and recorded in ``<cache>/observed_sha256.json`` and every later use is checked
against that record (trust on first use). Replace ``None`` by the logged value once confirmed.

The Patch-seq and Explorer files are pinned to a commit of their GitHub source; their checksums are
those of the byte-identical copies in the project's shared test data (``PROVENANCE.tsv``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RemoteFile", "REGISTRY"]

_MINI_ATLAS = "https://raw.githubusercontent.com/berenslab/mini-atlas/3bf98a524b8e48aa8647e1b9ae8f2351d9c712c9"
_RNA_SEQ_TSNE = "https://raw.githubusercontent.com/berenslab/rna-seq-tsne/f6a0a75b59f45fda600f36d4c701cf0e54de2bf3"
_ALLEN = "https://celltypes.brain-map.org/api/v2/well_known_file_download"
_GEO = "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE115nnn/GSE115746/suppl"


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: cache name, URL, SHA-256 (``None``: unknown), size in bytes if known."""

    fname: str
    url: str
    sha256: str | None
    size: int | None = None
    note: str = ""


REGISTRY: dict[str, RemoteFile] = {
    "tasic2018_VISp": RemoteFile(
        "mouse_VISp_gene_expression_matrices_2018-06-14.zip",
        f"{_ALLEN}/694413985",
        None,
        305_703_326,
        "Tasic et al. 2018 VISp SMART-seq exon/intron counts (Allen Brain Map); size as reported by "
        "a third-party script, unverified",
    ),
    "tasic2018_ALM": RemoteFile(
        "mouse_ALM_gene_expression_matrices_2018-06-14.zip",
        f"{_ALLEN}/694413179",
        None,
        None,
        "Tasic et al. 2018 ALM SMART-seq exon/intron counts (Allen Brain Map)",
    ),
    "tasic2018_explorer": RemoteFile(
        "sample_heatmap_plot_data.csv",
        f"{_RNA_SEQ_TSNE}/data/tasic-sample_heatmap_plot_data.csv",
        "57a682d4a46ca76562bf8b9837550e9aac656501349590985b66e18b660a9369",
        2_953_049,
        "Allen Transcriptomics Explorer sample-heatmap export, VISp + ALM, 23,822 cells, 7 genes",
    ),
    "m1_patchseq_exon": RemoteFile(
        "m1_patchseq_phys_temp_exon_counts.csv.gz",
        f"{_MINI_ATLAS}/data/m1_patchseq_phys_temp_exon_counts.csv.gz",
        "7a00653c748657f028332edd43f07e33a62a79e6026a73651deac5cf414618f4",
        2_622_352,
        "Scala et al. 2021 M1 Patch-seq exon counts",
    ),
    "m1_patchseq_intron": RemoteFile(
        "m1_patchseq_phys_temp_intron_counts.csv.gz",
        f"{_MINI_ATLAS}/data/m1_patchseq_phys_temp_intron_counts.csv.gz",
        "969fd275c0ecbe9b908177aa1981610144f5003f90756f5f18d56a01f21ef636",
        1_589_993,
        "Scala et al. 2021 M1 Patch-seq intron counts",
    ),
    "m1_patchseq_meta": RemoteFile(
        "m1_patchseq_phys_temp_meta_data.csv",
        f"{_MINI_ATLAS}/data/m1_patchseq_phys_temp_meta_data.csv",
        "c351cafebe561db6e349b6805717632766849a1bfe0d038f85ccf9b11e4a8f92",
        58_093,
        "Scala et al. 2021 M1 Patch-seq metadata (tab-separated)",
    ),
    "yao2020_annotation": RemoteFile(
        "yao2020_cluster.annotation.csv",
        f"{_MINI_ATLAS}/data/raw/allen/yao2020/cluster.annotation.csv",
        "ca45d89c2de55e9f628d90cf8c79b4a0810e7119ffadc3d6b7e153ca067281ae",
        8_239,
        "Yao et al. 2021 MOp taxonomy (cluster → subclass → class)",
    ),
    "gse115746_counts": RemoteFile(
        "GSE115746_cells_exon_counts.csv.gz",
        f"{_GEO}/GSE115746_cells_exon_counts.csv.gz",
        None,
        None,
        "GEO GSE115746 exon counts (Tasic et al. 2018)",
    ),
    "gse115746_metadata": RemoteFile(
        "GSE115746_complete_metadata_28706-cells.csv.gz",
        f"{_GEO}/GSE115746_complete_metadata_28706-cells.csv.gz",
        None,
        501_614,
        "GEO GSE115746 metadata, 28,706 cells (size as reported by a third-party script, unverified)",
    ),
}
