"""Fine-tuning and evaluation for `arxiv-tui finetune` and `arxiv-tui eval` (no Textual here).
Installed as `arxiv_tui.trainer` (see pyproject.toml); its modules import each other relatively.

`data/`: records from every source, the selection and split, token rows on disk, prepared data
reused; `training/`: the recipe's fast training forward, the fused head loss, the loop,
evaluation, metrics, the model card; `recipe`: the published settings; `finetune`: all of it in
order. `data` imports nothing of `training`.
"""
