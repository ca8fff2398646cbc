#!/bin/sh
# Asterisk container entrypoint: install the hotline configuration (placeholders filled
# from the environment), then run Asterisk in the foreground.
set -eu
sh /hotline/render-config.sh /hotline /etc/asterisk
mkdir -p /var/spool/asterisk/monitor/hl12319 /var/spool/asterisk/hl12319-messages
# Chinese digits for SAY DIGITS (the ticket number read back) come with the prompts
mkdir -p /var/lib/asterisk/sounds/zh
if [ ! -e /var/lib/asterisk/sounds/zh/digits ]; then
  ln -s ../hl12319/digits /var/lib/asterisk/sounds/zh/digits
fi
if id asterisk >/dev/null 2>&1; then
  chown -R asterisk: /var/spool/asterisk/monitor/hl12319 /var/spool/asterisk/hl12319-messages || true
  chown asterisk: /etc/asterisk/manager.conf /etc/asterisk/pjsip.conf /etc/asterisk/pjsip_seats.conf || true
  exec asterisk -f -U asterisk -G asterisk -vvv
fi
exec asterisk -f -vvv
