"""Fine-tuning: training-file checks, LoRA training, export for llama.cpp (no HTTP)."""
