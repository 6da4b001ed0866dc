"""Token types as GGUF stores them, and llama.cpp's token attributes."""

from __future__ import annotations

# tokenizer.ggml.token_type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
TYPE_NAMES = {
    0: "undefined",
    NORMAL: "normal",
    UNKNOWN: "unknown",
    CONTROL: "control",
    USER_DEFINED: "user-defined",
    UNUSED: "unused",
    BYTE: "byte",
}

# llama.cpp's attribute bits (llama.h): the file's types become these, and
# some tokens get more by their text (vocab.Vocab.finish).
A_UNKNOWN, A_UNUSED, A_NORMAL, A_CONTROL, A_USER_DEFINED, A_BYTE = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5
A_LSTRIP, A_RSTRIP = 1 << 7, 1 << 8
TYPE_ATTR = {
    UNKNOWN: A_UNKNOWN,
    UNUSED: A_UNUSED,
    NORMAL: A_NORMAL,
    CONTROL: A_CONTROL,
    USER_DEFINED: A_USER_DEFINED,
    BYTE: A_BYTE,
}
# Cut out of text before tokenizing (tokenizer_st_partition).
SPECIAL_ATTRS = A_CONTROL | A_USER_DEFINED | A_UNKNOWN
