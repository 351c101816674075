"""Fine-tuning and evaluation for `arxiv-tui finetune` and `arxiv-tui eval` (no Textual here).

data/sources: texts from files, the Hub or the history; blocks: tokens in rows; model and
head_loss: the recipe's fast training forward; train: the loop; evaluate; card; finetune: all
of it in order.
"""
