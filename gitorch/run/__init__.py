"""The run: route, confirm, plan, build, commit, publish, verify and review, as resumable steps over the
journal. ``pipeline.Pipeline`` drives it; ``assemble.assemble`` puts one together from the configuration."""
