"""A plugin whose import fails, as one with a missing dependency would."""

raise ImportError("imagear_brokenplugin needs the package 'not-installed-anywhere'")
