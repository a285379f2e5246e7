"""Evaluation: embedding datasets with exported models, alignment experiments, reports."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
