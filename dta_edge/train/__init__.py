"""Fine-tuning on curated sets: LoRA (peft) or full, with trl's SFTTrainer."""
