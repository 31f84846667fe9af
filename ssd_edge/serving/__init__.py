"""Serving past one box: model repositories for NVIDIA's Triton Inference Server.

A tool on top of the export and the runtime: it reads an exported ONNX (and engine) with the
runtime's artifact reader and writes a repository Triton loads (:mod:`.triton_repo`).
"""
