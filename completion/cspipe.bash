# SPDX-License-Identifier: MIT
# bash completion for cspipe: subcommands, options, stage kinds and
# pipeline files.  Installed by `ninja install`; works without the
# bash-completion package too (source it from ~/.bashrc).

_cspipe_kinds()
{
	cspipe stages 2>/dev/null | awk 'NF && $1 !~ /^(Every|See)$/ && !/^ / {print $1}'
}

_cspipe()
{
	local cur prev cmd i
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		run|validate|graph|test|stages|help) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done

	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W 'run validate graph test stages help --version --help' -- "$cur"))
		return
	fi
	case $cmd in
	help)
		COMPREPLY=($(compgen -W 'run validate graph test stages' -- "$cur"))
		return ;;
	stages)
		COMPREPLY=($(compgen -W "$(_cspipe_kinds)" -- "$cur"))
		return ;;
	esac
	case $prev in
	-o)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	-t)
		COMPREPLY=($(compgen -W '10s 1m 5m 1h' -- "$cur"))
		return ;;
	-s|-e|--max-memory|--stats-interval|--metrics-addr)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		case $cmd in
		run) COMPREPLY=($(compgen -W '-e -o -s -t --stats --stats=json --stats=json: --stats-interval --metrics-addr --progress --progress=always --help' -- "$cur")) ;;
		validate) COMPREPLY=($(compgen -W '-e -s --max-memory --help' -- "$cur")) ;;
		graph) COMPREPLY=($(compgen -W '-e --stats= --help' -- "$cur")) ;;
		test) COMPREPLY=($(compgen -W '--help' -- "$cur")) ;;
		esac
		return
	fi
	# The pipeline file first (YAML files and folders), then inputs.
	local have_pipeline=
	for ((i = i + 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-o|-s|-t|-e|--max-memory|--stats-interval|--metrics-addr) ((i++)) ;;
		-*) ;;
		*) have_pipeline=1 ;;
		esac
	done
	if [[ -z $have_pipeline ]]; then
		COMPREPLY=($(compgen -f -X '!*.@(yaml|yml)' -- "$cur") $(compgen -d -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}

shopt -s extglob 2>/dev/null
complete -o filenames -F _cspipe cspipe
