from __future__ import annotations

import zipfile

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from finetune_portal.core.storage import storage_folder_files, storage_folder_zip


def store(name: str, content: bytes) -> None:
    default_storage.save(name, ContentFile(content))


def test_every_file_of_a_nested_folder_is_listed_relative_to_it():
    store("peft/1/job-3/final/adapter_model.safetensors", b"weights")
    store("peft/1/job-3/final/tokenizer/tokenizer.json", b"{}")
    store("peft/1/job-3/final-other/x.bin", b"not this folder")

    assert storage_folder_files("peft/1/job-3/final") == [
        "adapter_model.safetensors",
        "tokenizer/tokenizer.json",
    ]
    assert storage_folder_files("peft/1/job-3/missing") == []


def test_the_zip_holds_each_file_under_one_root_folder():
    store("peft/1/job-3/final/adapter_model.safetensors", b"weights" * 1000)
    store("peft/1/job-3/final/tokenizer/tokenizer.json", b"{}")

    archive = storage_folder_zip("peft/1/job-3/final", root="colours-3-adapter")

    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == [
            "colours-3-adapter/adapter_model.safetensors",
            "colours-3-adapter/tokenizer/tokenizer.json",
        ]
        assert bundle.read("colours-3-adapter/adapter_model.safetensors") == b"weights" * 1000
    assert storage_folder_zip("peft/1/job-3/missing", root="x") is None
