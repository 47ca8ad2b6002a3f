"""Help text like its peers': no `<bool>` after a flag, `KEY=VALUE...` style names for repeatable
options instead of `<list[str]>`, set once for every command instead of in each declaration."""

from __future__ import annotations

import typer.core


def tidy(command) -> None:
    """Give `command` and every command under it readable option names (click's `metavar`)."""
    if not getattr(command, "_tidy", False):
        command._tidy = True
        make_help = command.get_help_option

        def get_help_option(ctx):  # --help is made at render time, outside `params`
            option = make_help(ctx)
            if option is not None:
                option.metavar = ""
            return option

        command.get_help_option = get_help_option
    for param in getattr(command, "params", []):
        if isinstance(param, typer.core.TyperArgument) and param.nargs != 1:
            label = param.display_type(None).strip("<>").removeprefix("list[").removesuffix("]")
            param.display_type_rich = lambda ctx, label=label: f"<{label}>..."  # not <list[Path]>
            continue
        if not isinstance(param, typer.core.TyperOption) or param.metavar is not None:
            continue
        if param.is_flag or param.is_bool_flag:
            param.metavar = ""  # a flag takes no value
        elif param.multiple:
            param.metavar = "TEXT..." if not param.name or param.name not in ("set_", "option", "force") \
                else {"set_": "KEY=VALUE...", "option": "KEY=VALUE...", "force": "STAGE..."}[param.name]
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)


class TidyGroup(typer.core.TyperGroup):
    """The root group: tidies its own and its subcommands' options before help is shown."""

    def get_params(self, ctx):
        tidy(self)
        return super().get_params(ctx)

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            tidy(command)
        return command
