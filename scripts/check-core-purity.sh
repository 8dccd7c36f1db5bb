#!/usr/bin/env bash
# Fails if libstrata_core references I/O, clock, environment or printing
# functions, or defines writable globals (STYLE: "One pure core").
set -euo pipefail
lib=$1
forbidden='socket|bind|connect|sendto|recvfrom|sendmsg|recvmsg|clock_gettime|gettimeofday|time|sleep|usleep|nanosleep|getenv|fopen|open|read|write|printf|fprintf|puts|putchar|perror|rand|random|srand|select|poll|epoll_wait|pthread_create|uv_[a-z_]+'
bad=$(nm -u "$lib" | awk '{print $2}' | sed 's/@.*//' | grep -xE "$forbidden" || true)
globals=$(nm "$lib" | awk '$2 ~ /^[DdBb]$/ {print $3}' || true)
status=0
if [ -n "$bad" ]; then echo "core uses forbidden symbols:"; echo "$bad"; status=1; fi
if [ -n "$globals" ]; then echo "core defines writable globals:"; echo "$globals"; status=1; fi
[ $status -eq 0 ] && echo "core purity: ok ($(nm -u "$lib" | wc -l) undefined symbols checked)"
exit $status
