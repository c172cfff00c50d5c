#!/usr/bin/env bash
# Deploy supajobs's three functions to Google Cloud Run functions, with the Cloud Tasks queue
# that hands wake-ups to process_job, the Cloud Scheduler sweep, a service account per
# function and the secrets in Secret Manager. Safe to run again: what exists is updated.
#
#   deploy/gcp/deploy.sh PROJECT_ID             # deploy (gcloud must be signed in)
#   DRY_RUN=1 deploy/gcp/deploy.sh PROJECT_ID   # print every gcloud command, run none
#
# Secret values are never arguments, never printed: the database URL is read from
# SUPAJOBS_DATABASE_URL or asked for (hidden) the first time; the webhook secret is generated
# once in Secret Manager. Optional settings (defaults in brackets): REGION [europe-west1],
# PREFIX [supajobs], PROCESS_JOB_INSTANCES [5], SUBMIT_INSTANCES [5], OPERATOR_SECRET [none]:
# the name of a Secret Manager secret you created with the project's secret key (sb_secret_...),
# which callers of the operators' routes (GET /stats, the dashboard) then present.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 PROJECT_ID   (DRY_RUN=1 to print the commands only)" >&2
  exit 2
fi
PROJECT_ID=$1
REGION=${REGION:-europe-west1}
PREFIX=${PREFIX:-supajobs}
DRY_RUN=${DRY_RUN:-0}
PROCESS_JOB_INSTANCES=${PROCESS_JOB_INSTANCES:-5}
SUBMIT_INSTANCES=${SUBMIT_INSTANCES:-5}
OPERATOR_SECRET=${OPERATOR_SECRET:-}
SOURCE_ROOT=$(cd "$(dirname "$0")/../.." && pwd)  # main.py, requirements.txt, functions/

RUNTIME=python313
# One drain may run 30 minutes: the longest dispatch deadline Cloud Tasks allows and the
# longest attempt deadline Cloud Scheduler allows for HTTP. The function's timeout is the same,
# and process_job stops claiming with 30 s to spare (PROCESS_JOB_TIMEOUT_SECONDS).
DRAIN_SECONDS=1800
QUEUE=$PREFIX-wakeups
QUEUE_PATH=projects/$PROJECT_ID/locations/$REGION/queues/$QUEUE
SUBMIT=$PREFIX-submit
WEBHOOK=$PREFIX-webhook
PROCESS_JOB=$PREFIX-process-job
# A function's cloudfunctions.net URL is known before it is deployed; Cloud Tasks and Cloud
# Scheduler call it and mint their ID tokens for it as the audience.
PROCESS_JOB_URL=https://$REGION-$PROJECT_ID.cloudfunctions.net/$PROCESS_JOB
DATABASE_SECRET=$PREFIX-database-url
WEBHOOK_SECRET_NAME=$PREFIX-webhook-secret
sa() { echo "$PREFIX-$1@$PROJECT_ID.iam.gserviceaccount.com"; }
SUBMIT_SA=$(sa submit)
WEBHOOK_SA=$(sa webhook)
PROCESS_JOB_SA=$(sa process-job)
TASKS_SA=$(sa tasks)      # the identity Cloud Tasks calls process_job as
SWEEPER_SA=$(sa sweeper)  # the identity Cloud Scheduler calls process_job as

say() { printf '[deploy] %s\n' "$*" >&2; }
run() {  # print a command, then run it unless this is a dry run
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if [ "$DRY_RUN" != 1 ]; then "$@"; fi
}
present() {  # whether a describe command finds the thing; a dry run assumes not (or, with
  # DRY_RUN_EXISTING=1, that all exists, to print the commands of a second run)
  printf '? %s\n' "$*"
  if [ "$DRY_RUN" = 1 ]; then [ "${DRY_RUN_EXISTING:-0}" = 1 ]; return; fi
  "$@" >/dev/null 2>&1
}
P=(--project="$PROJECT_ID")

say "enabling the APIs"
run gcloud services enable "${P[@]}" \
  cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com \
  artifactregistry.googleapis.com cloudtasks.googleapis.com cloudscheduler.googleapis.com \
  secretmanager.googleapis.com iam.googleapis.com

say "service accounts: one per function, and one per caller of process_job"
for name in submit webhook process-job tasks sweeper; do
  if ! present gcloud iam service-accounts describe "$(sa "$name")" "${P[@]}"; then
    run gcloud iam service-accounts create "$PREFIX-$name" "${P[@]}" \
      --display-name="supajobs $name"
  fi
done

say "secrets (values never on a command line)"
if ! present gcloud secrets describe "$DATABASE_SECRET" "${P[@]}"; then
  run gcloud secrets create "$DATABASE_SECRET" "${P[@]}" --replication-policy=automatic
fi
if ! present gcloud secrets versions describe latest --secret="$DATABASE_SECRET" "${P[@]}"; then
  say "the database URL: Supabase's transaction pooler string (port 6543)"
  if [ "$DRY_RUN" = 1 ]; then
    run gcloud secrets versions add "$DATABASE_SECRET" "${P[@]}" --data-file=-
  else
    url=${SUPAJOBS_DATABASE_URL:-}
    if [ -z "$url" ]; then read -rsp "DATABASE_URL: " url && echo >&2; fi
    printf '%s' "$url" | run gcloud secrets versions add "$DATABASE_SECRET" "${P[@]}" --data-file=-
  fi
fi
if ! present gcloud secrets describe "$WEBHOOK_SECRET_NAME" "${P[@]}"; then
  run gcloud secrets create "$WEBHOOK_SECRET_NAME" "${P[@]}" --replication-policy=automatic
fi
if ! present gcloud secrets versions describe latest --secret="$WEBHOOK_SECRET_NAME" "${P[@]}"; then
  if [ "$DRY_RUN" = 1 ]; then
    run gcloud secrets versions add "$WEBHOOK_SECRET_NAME" "${P[@]}" --data-file=-
  else
    # whsec_ and the base64 of 32 random bytes, as the database signs with (Standard Webhooks).
    printf 'whsec_%s' "$(head -c 32 /dev/urandom | base64)" \
      | run gcloud secrets versions add "$WEBHOOK_SECRET_NAME" "${P[@]}" --data-file=-
  fi
fi
accessor() {  # let service account $2 read secret $1, and nothing else
  run gcloud secrets add-iam-policy-binding "$1" "${P[@]}" \
    --member="serviceAccount:$2" --role=roles/secretmanager.secretAccessor --condition=None
}
accessor "$DATABASE_SECRET" "$SUBMIT_SA"
accessor "$DATABASE_SECRET" "$PROCESS_JOB_SA"
accessor "$WEBHOOK_SECRET_NAME" "$WEBHOOK_SA"
SUBMIT_SECRETS="DATABASE_URL=$DATABASE_SECRET:latest"
if [ -n "$OPERATOR_SECRET" ]; then  # its value is yours to add; only its reader is set here
  accessor "$OPERATOR_SECRET" "$SUBMIT_SA"
  SUBMIT_SECRETS+=",SUPABASE_SECRET_KEY=$OPERATOR_SECRET:latest"
fi

say "the Cloud Tasks queue"
# A wake-up that process_job refuses with a 5xx or 429 (its database restarting, every instance
# busy) is tried again within about a minute; after that the Scheduler's sweep covers it, so
# older retries would only add load. At most PROCESS_JOB_INSTANCES calls run at once.
QUEUE_SETTINGS=(
  --location="$REGION" "${P[@]}"
  --max-attempts=4 --min-backoff=2s --max-backoff=30s --max-doublings=4 --max-retry-duration=120s
  --max-concurrent-dispatches="$PROCESS_JOB_INSTANCES" --max-dispatches-per-second=20
)
if present gcloud tasks queues describe "$QUEUE" --location="$REGION" "${P[@]}"; then
  run gcloud tasks queues update "$QUEUE" "${QUEUE_SETTINGS[@]}"
else
  run gcloud tasks queues create "$QUEUE" "${QUEUE_SETTINGS[@]}"
fi
# The webhook may add tasks to this queue only, carrying an OIDC token for the tasks account.
run gcloud tasks queues add-iam-policy-binding "$QUEUE" --location="$REGION" "${P[@]}" \
  --member="serviceAccount:$WEBHOOK_SA" --role=roles/cloudtasks.enqueuer
run gcloud iam service-accounts add-iam-policy-binding "$TASKS_SA" "${P[@]}" \
  --member="serviceAccount:$WEBHOOK_SA" --role=roles/iam.serviceAccountUser

DEPLOY=(
  gcloud functions deploy --gen2 "${P[@]}" --region="$REGION" --runtime="$RUNTIME"
  --source="$SOURCE_ROOT" --trigger-http --memory=512Mi
)
say "process_job: private; Cloud Run lets only the tasks and sweeper accounts call it"
run "${DEPLOY[@]}" "$PROCESS_JOB" --entry-point=process_job --no-allow-unauthenticated \
  --service-account="$PROCESS_JOB_SA" --timeout="${DRAIN_SECONDS}s" \
  --cpu=1 --concurrency=1 --max-instances="$PROCESS_JOB_INSTANCES" \
  --set-secrets="DATABASE_URL=$DATABASE_SECRET:latest" \
  --set-env-vars="^;^PROCESS_JOB_AUTH=cloud-run-iam;PROCESS_JOB_AUDIENCE=$PROCESS_JOB_URL;PROCESS_JOB_CALLERS=$TASKS_SA,$SWEEPER_SA;PROCESS_JOB_TIMEOUT_SECONDS=$DRAIN_SECONDS;PROCESS_JOB_MAX_SECONDS=$DRAIN_SECONDS;WORKER_LINGER_SECONDS=0.5"
for caller in "$TASKS_SA" "$SWEEPER_SA"; do
  run gcloud functions add-invoker-policy-binding "$PROCESS_JOB" --region="$REGION" "${P[@]}" \
    --member="serviceAccount:$caller"
done

say "webhook: public (the database's calls are signed), hands each wake-up to Cloud Tasks"
run "${DEPLOY[@]}" "$WEBHOOK" --entry-point=webhook --allow-unauthenticated \
  --service-account="$WEBHOOK_SA" --timeout=30s --cpu=1 --concurrency=20 --max-instances=5 \
  --set-secrets="WEBHOOK_SECRET=$WEBHOOK_SECRET_NAME:latest" \
  --set-env-vars="^;^PROCESS_JOB_URL=$PROCESS_JOB_URL;CLOUD_TASKS_QUEUE=$QUEUE_PATH;PROCESS_JOB_INVOKER_SERVICE_ACCOUNT=$TASKS_SA;CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS=$DRAIN_SECONDS"

say "submit: the public jobs API"
run "${DEPLOY[@]}" "$SUBMIT" --entry-point=submit --allow-unauthenticated \
  --service-account="$SUBMIT_SA" --timeout=60s --cpu=1 --concurrency=10 \
  --max-instances="$SUBMIT_INSTANCES" \
  --set-secrets="$SUBMIT_SECRETS" \
  --set-env-vars="DB_POOL_MAX_SIZE=2"

say "the sweep: process_job every minute, as the sweeper account"
SWEEP_SETTINGS=(
  --location="$REGION" "${P[@]}" --schedule="* * * * *" --uri="$PROCESS_JOB_URL"
  --http-method=POST --message-body='{}'
  --oidc-service-account-email="$SWEEPER_SA" --oidc-token-audience="$PROCESS_JOB_URL"
  --attempt-deadline="${DRAIN_SECONDS}s"
)
if present gcloud scheduler jobs describe "$PREFIX-sweep" --location="$REGION" "${P[@]}"; then
  run gcloud scheduler jobs update http "$PREFIX-sweep" "${SWEEP_SETTINGS[@]}" \
    --update-headers=Content-Type=application/json
else
  run gcloud scheduler jobs create http "$PREFIX-sweep" "${SWEEP_SETTINGS[@]}" \
    --headers=Content-Type=application/json
fi

WEBHOOK_URL=https://$REGION-$PROJECT_ID.cloudfunctions.net/$WEBHOOK
SUBMIT_URL=https://$REGION-$PROJECT_ID.cloudfunctions.net/$SUBMIT
cat >&2 <<EOF
[deploy] done. The jobs API: $SUBMIT_URL
[deploy] Point the database at the webhook (SQL editor; the secret is in Secret Manager):
  select vault.create_secret('$WEBHOOK_URL', 'job_webhook_url');
  select vault.create_secret('<gcloud secrets versions access latest --secret=$WEBHOOK_SECRET_NAME --project=$PROJECT_ID>', 'job_webhook_secret');
EOF
