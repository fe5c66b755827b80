# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for vmc

_vmc_vms() {
        vmc list -q 2>/dev/null
}

_vmc_containers() {
        vmc container-list -q "$1" 2>/dev/null
}

_vmc_shares() {
        vmc shares -q "$1" 2>/dev/null
}

_vmc_apps() {
        vmc apps -q "$1" "$2" 2>/dev/null
}

_vmc_images() {
        local store=${BISTRO_IMAGE_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/bistro/images/containers} f
        for f in "$store"/*.tar.zst; do
                [[ -e $f ]] && f=${f##*/} && echo "${f%.tar.zst}"
        done
}

_vmc() {
        local cur prev verb i
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        local verbs="start stop list ls info destroy logs export import resize sync-time container container-stop container-delete container-list ports port-forward share unshare shares apps app-scale window-mark"

        for ((i = 1; i < COMP_CWORD; i++)); do
                case ${COMP_WORDS[i]} in
                -*) ;;
                *) verb=${COMP_WORDS[i]}; break ;;
                esac
        done
        case $prev in
        --cpus|--mem|--disk-size|--host-port|--name) return ;;
        --container)
                local v
                for ((i = 1; i < COMP_CWORD; i++)); do
                        [[ ${COMP_WORDS[i]} == share ]] && { v=${COMP_WORDS[i+1]}; break; }
                done
                COMPREPLY=($(compgen -W "$(_vmc_containers "$v")" -- "$cur"))
                return ;;
        --image)
                COMPREPLY=($(compgen -W "$(_vmc_images)" -- "$cur") $(compgen -f -- "$cur"))
                return ;;
        esac
        if [[ -z $verb ]]; then
                COMPREPLY=($(compgen -W "$verbs --help --json -q" -- "$cur"))
                return
        fi
        if [[ $cur == -* ]]; then
                local opts="--help"
                case $verb in
                start) opts+=" --cpus --mem --disk-size --host-loopback --no-host-loopback --json" ;;
                stop) opts+=" --force" ;;
                list|ls|info) opts+=" --json -q" ;;
                destroy) opts+=" --yes" ;;
                export) opts+=" --force" ;;
                container) opts+=" --image --json -q" ;;
                container-stop) opts+=" --force" ;;
                container-delete) opts+=" --yes" ;;
                container-list) opts+=" --json -q" ;;
                ports) opts+=" --json -q" ;;
                port-forward) opts+=" --host-port --udp --remove" ;;
                apps) opts+=" --json -q" ;;
                app-scale) opts+=" --list --json -q" ;;
                window-mark) opts+=" --json" ;;
                share) opts+=" --container --name --read-only --json" ;;
                shares) opts+=" --json -q" ;;
                esac
                COMPREPLY=($(compgen -W "$opts" -- "$cur"))
                return
        fi
        local n=0
        for ((i = i + 1; i < COMP_CWORD; i++)); do
                [[ ${COMP_WORDS[i]} == -* ]] || ((n++))
        done
        case $verb in
        start|stop|info|destroy|logs|resize)
                ((n == 0)) && COMPREPLY=($(compgen -W "$(_vmc_vms)" -- "$cur")) ;;
        export)
                if ((n == 0)); then COMPREPLY=($(compgen -W "$(_vmc_vms)" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi ;;
        import)
                ((n == 0)) && COMPREPLY=($(compgen -f -- "$cur")) ;;
        container-list|ports|shares)
                ((n == 0)) && COMPREPLY=($(compgen -W "$(_vmc_vms)" -- "$cur")) ;;
        share)
                if ((n == 0)); then COMPREPLY=($(compgen -W "$(_vmc_vms)" -- "$cur")); else COMPREPLY=($(compgen -d -- "$cur")); fi ;;
        unshare)
                local vm
                for ((i = 1; i < COMP_CWORD; i++)); do
                        [[ ${COMP_WORDS[i]} == unshare ]] && { vm=${COMP_WORDS[i+1]}; break; }
                done
                if ((n == 0)); then COMPREPLY=($(compgen -W "$(_vmc_vms)" -- "$cur"))
                elif ((n == 1)); then COMPREPLY=($(compgen -W "$(_vmc_shares "$vm")" -- "$cur")); fi ;;
        container|container-stop|container-delete|port-forward|apps)
                local vm
                for ((i = 1; i < COMP_CWORD; i++)); do
                        [[ ${COMP_WORDS[i]} == "$verb" ]] && { vm=${COMP_WORDS[i+1]}; break; }
                done
                if ((n == 0)); then COMPREPLY=($(compgen -W "$(_vmc_vms)" -- "$cur"))
                elif ((n == 1)); then COMPREPLY=($(compgen -W "$(_vmc_containers "$vm")" -- "$cur")); fi ;;
        app-scale)
                local vm ct
                for ((i = 1; i < COMP_CWORD; i++)); do
                        [[ ${COMP_WORDS[i]} == app-scale ]] && { vm=${COMP_WORDS[i+1]}; ct=${COMP_WORDS[i+2]}; break; }
                done
                case $n in
                0) COMPREPLY=($(compgen -W "$(_vmc_vms)" -- "$cur")) ;;
                1) COMPREPLY=($(compgen -W "$(_vmc_containers "$vm")" -- "$cur")) ;;
                2) COMPREPLY=($(compgen -W "$(_vmc_apps "$vm" "$ct")" -- "$cur")) ;;
                3) COMPREPLY=($(compgen -W "1 1.25 1.5 1.75 2 reset" -- "$cur")) ;;
                esac ;;
        window-mark)
                ((n == 0)) && COMPREPLY=($(compgen -W "title app-id none" -- "$cur")) ;;
        esac
}
complete -F _vmc vmc
