from __future__ import annotations

from finetune_portal.providers.peft.base_models import model_shape
from finetune_portal.providers.peft.memory import GIB, estimate_training_memory

LLAMA_8B = model_shape("meta-llama/Llama-3.1-8B-Instruct")


def test_full_fine_tuning_of_8b_needs_far_more_than_an_80gb_gpu():
    estimate = estimate_training_memory(LLAMA_8B, adapter="full", batch_size=1, max_length=1024)

    assert estimate.total > 100 * GIB
    assert estimate.trainable_parameters == LLAMA_8B.parameters


def test_qlora_of_8b_fits_a_24gb_gpu_where_lora_is_tight():
    qlora = estimate_training_memory(LLAMA_8B, adapter="qlora", batch_size=1, max_length=1024)
    lora = estimate_training_memory(LLAMA_8B, adapter="lora", batch_size=1, max_length=1024)

    assert qlora.total < 12 * GIB
    assert 16 * GIB < lora.total < 24 * GIB
    assert lora.trainable_parameters < LLAMA_8B.parameters / 50


def test_memory_grows_with_batch_and_sequence_length():
    small = estimate_training_memory(LLAMA_8B, adapter="lora", batch_size=1, max_length=512)
    big = estimate_training_memory(LLAMA_8B, adapter="lora", batch_size=8, max_length=4096)

    assert big.activations > 32 * small.activations * 0.9
    assert big.weights == small.weights


def test_dpo_counts_both_answers():
    sft = estimate_training_memory(LLAMA_8B, adapter="lora", batch_size=2, max_length=1024, method="sft")
    dpo = estimate_training_memory(LLAMA_8B, adapter="lora", batch_size=2, max_length=1024, method="dpo")

    assert dpo.activations > sft.activations * 1.9


def test_fsdp_over_four_gpus_splits_the_weights_and_optimizer_state_but_not_the_activations():
    whole = estimate_training_memory(LLAMA_8B, adapter="full", batch_size=1, max_length=1024)
    sharded = estimate_training_memory(LLAMA_8B, adapter="full", batch_size=1, max_length=1024, shards=4)

    assert sharded.weights == whole.weights // 4
    assert sharded.optimizer_and_gradients == whole.optimizer_and_gradients // 4
    assert sharded.activations == whole.activations
    assert sharded.total < 80 * GIB < whole.total
