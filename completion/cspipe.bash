# SPDX-License-Identifier: MIT
# bash completion for cspipe: subcommands, options and their values,
# stage kinds, the stages of the pipeline file on the line (for -s), and
# pipeline files.  Installed by `ninja install`; works without the
# bash-completion package too (source it from ~/.bashrc).

_cspipe_kinds()
{
	cspipe stages 2>/dev/null | awk 'NF && $1 !~ /^(Every|See)$/ && !/^ / {print $1}'
}

# The pipeline file on the line, before or after the cursor: the first
# word after the subcommand that is not an option or an option's value.
# None when -e gives the pipeline.
_cspipe_pipeline()
{
	local j
	for ((j = $1 + 1; j < ${#COMP_WORDS[@]}; j++)); do
		((j == COMP_CWORD)) && continue
		case ${COMP_WORDS[j]} in
		-e) return 1 ;;
		-o|-s|-t|--max-memory) ((j++)) ;;
		=) ((j++)) ;;
		-*) ;;
		*) [[ ${COMP_WORDS[j+1]:-} == = ]] || { echo "${COMP_WORDS[j]}"; return 0; } ;;
		esac
	done
	return 1
}

# "NAME KIND" for each stage of pipeline file $1 (as cspipe graph names them,
# the implicit source and sink included), with a third word "implicit" for
# those two (drawn dashed), on which -s sets options but no common key.
_cspipe_stages_of()
{
	local f=${1/#\~/$HOME}
	[[ -r $f ]] || return
	cspipe graph -- "$f" 2>/dev/null |
		sed -n -e 's/^  "\([^"]*\)" \[label="[^"]*\\n\([a-z_]*\) .*dashed.*/\1 \2 implicit/p' \
			-e 't' \
			-e 's/^  "\([^"]*\)" \[label="[^"]*\\n\([a-z_]*\) .*/\1 \2/p'
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
	# help and stages take one word: nothing after it.
	case $cmd in
	help)
		((COMP_CWORD == i + 1)) &&
			COMPREPLY=($(compgen -W 'run validate graph test stages' -- "$cur"))
		return ;;
	stages)
		((COMP_CWORD == i + 1)) &&
			COMPREPLY=($(compgen -W "$(_cspipe_kinds)" -- "$cur"))
		return ;;
	esac
	# --stats=VALUE: bash splits the word at '=' (COMP_WORDBREAKS).
	local opt=
	if [[ $cur == = ]]; then
		opt=$prev
		cur=
	elif [[ $prev == = ]]; then
		opt=${COMP_WORDS[COMP_CWORD-2]}
	fi
	case $opt in
	--stats)
		if [[ $cmd == graph ]]; then
			COMPREPLY=($(compgen -f -X '!*.json' -- "$cur") $(compgen -d -- "$cur"))
		else
			COMPREPLY=($(compgen -W 'table json' -- "$cur"))
		fi
		return ;;
	--progress)
		COMPREPLY=($(compgen -W 'always' -- "$cur"))
		return ;;
	esac
	case $prev in
	-s)
		# STAGE.KEY=VALUE: the stages of the pipeline on the line, then
		# the keys of the one named; or a top-level key.
		local file stage kind keys line common
		file=$(_cspipe_pipeline "$i")
		if [[ $cur == *.* ]]; then
			stage=${cur%%.*}
			read -r kind common < <(_cspipe_stages_of "$file" |
				awk -v s="$stage" '$1 == s {print $2, ($3 == "implicit" ? "" : "common")}')
			[[ -n $kind ]] &&
				keys=$(cspipe stages "$kind" 2>/dev/null | awk '/^options:/ {o = 1; next}
					o && /^  [a-z_]+ / {print $1}')
			[[ -n $common ]] && keys="$keys name workers buffer ordered timeout"
			COMPREPLY=($(compgen -P "$stage." -S = -W "$keys" -- "${cur#*.}"))
		else
			while read -r line; do
				keys="$keys ${line%% *}."
			done < <(_cspipe_stages_of "$file")
			COMPREPLY=($(compgen -W "$keys timeout= shutdown_timeout= name= max_workers=" -- "$cur"))
		fi
		compopt -o nospace 2>/dev/null
		return ;;
	-o)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	-t)
		COMPREPLY=($(compgen -W '10s 1m 5m 1h' -- "$cur"))
		return ;;
	-e|--max-memory|--stats-interval|--metrics-addr)
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
	# The pipeline file first (YAML files and folders), then inputs; with
	# -e YAML the words are all inputs.
	local have_pipeline=
	for ((i = i + 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-e) have_pipeline=1; ((i++)) ;;
		-o|-s|-t|--max-memory|--stats-interval|--metrics-addr) ((i++)) ;;
		=) ((i++)) ;;
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
