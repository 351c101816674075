"""Data for fine-tuning: records from every source, the selection and split, token files on disk,
and the cache of prepared data. Imports nothing from `training`."""
