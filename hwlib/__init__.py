"""hwlib: a notebook-first kit for pretraining small LLaMA2-style language models.

Stages, one module each, data flowing one way:
preprocess (web pages -> clean text) -> tokenizer (text -> uint16 .bin) -> data (blocks)
-> model (LLaMA2) -> checkpoint -> sample -> train -> evaluate -> report (tests/test_layering.py
holds the order). Importing hwlib has no side effects.
"""

__version__ = "0.1.0"
