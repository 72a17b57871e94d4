"""The segmentation the dbt Python models run: typed settings, scaling, K-Means, model selection, personas."""
