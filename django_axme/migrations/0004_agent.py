# Agent side (issue 17): the inbound direction, listeners, jobs and handler runs.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('django_axme', '0003_webhookdelivery'),
    ]

    operations = [
        migrations.CreateModel(
            name='AgentListener',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('address', models.CharField(max_length=383, unique=True, verbose_name='address')),
                ('cursor', models.PositiveBigIntegerField(default=0, help_text='Highest per-agent stream seq handled.', verbose_name='cursor')),
                ('lease_token', models.CharField(blank=True, max_length=64, verbose_name='lease token')),
                ('lease_until', models.DateTimeField(blank=True, null=True, verbose_name='lease until')),
                ('holder', models.CharField(blank=True, max_length=255, verbose_name='holder')),
                ('last_heartbeat_at', models.DateTimeField(blank=True, null=True, verbose_name='last mesh heartbeat')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated at')),
            ],
            options={
                'verbose_name': 'agent listener',
                'verbose_name_plural': 'agent listeners',
            },
        ),
        migrations.AddField(
            model_name='intent',
            name='direction',
            field=models.CharField(choices=[('outbound', 'Sent by this project'), ('inbound', 'Received as an agent')], db_index=True, default='outbound', max_length=16, verbose_name='direction'),
        ),
        migrations.CreateModel(
            name='AgentJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('address', models.CharField(db_index=True, max_length=383, verbose_name='address')),
                ('handler', models.CharField(blank=True, max_length=255, verbose_name='handler')),
                ('state', models.CharField(choices=[('pending', 'Waiting for a worker'), ('running', 'Handler running'), ('waiting', 'Waiting (human, time, agent, tool)'), ('resolving', 'Outcome decided, resolve not confirmed'), ('resolved', 'Resolved'), ('failed', 'Handler error, run again possible')], db_index=True, default='pending', max_length=16, verbose_name='state')),
                ('attempts', models.PositiveIntegerField(default=0, verbose_name='attempts')),
                ('lease_token', models.CharField(blank=True, max_length=64, verbose_name='lease token')),
                ('lease_until', models.DateTimeField(blank=True, db_index=True, null=True, verbose_name='lease until')),
                ('waiting_reason', models.CharField(blank=True, max_length=64, verbose_name='waiting reason')),
                ('wake_at', models.DateTimeField(blank=True, null=True, verbose_name='wake at')),
                ('decision', models.CharField(blank=True, max_length=16, verbose_name='human decision')),
                ('decision_note', models.TextField(blank=True, verbose_name='decision note')),
                ('outcome_status', models.CharField(blank=True, max_length=16, verbose_name='outcome')),
                ('result', models.JSONField(blank=True, null=True, verbose_name='result sent')),
                ('error', models.JSONField(blank=True, null=True, verbose_name='error sent')),
                ('resolve_key', models.CharField(blank=True, max_length=128, verbose_name='resolve idempotency key')),
                ('resolve_response', models.JSONField(blank=True, null=True, verbose_name='resolve answer')),
                ('resolve_conflict', models.BooleanField(default=False, help_text='The gateway answered 409: the intent was already terminal.', verbose_name='resolve conflict')),
                ('received_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='received at')),
                ('resolved_at', models.DateTimeField(blank=True, null=True, verbose_name='resolved at')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated at')),
                ('intent', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='agent_job', to='django_axme.intent', verbose_name='intent')),
            ],
            options={
                'verbose_name': 'agent job',
                'verbose_name_plural': 'agent jobs',
                'ordering': ['-received_at', '-id'],
                'permissions': [('run_agent_handler_again', 'Can run an agent handler again')],
            },
        ),
        migrations.CreateModel(
            name='HandlerRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('attempt', models.PositiveIntegerField(verbose_name='attempt')),
                ('handler', models.CharField(blank=True, max_length=255, verbose_name='handler')),
                ('outcome', models.CharField(blank=True, max_length=16, verbose_name='outcome')),
                ('error', models.TextField(blank=True, verbose_name='error')),
                ('result', models.JSONField(blank=True, null=True, verbose_name='result')),
                ('progress', models.JSONField(blank=True, default=list, verbose_name='progress')),
                ('worker', models.CharField(blank=True, max_length=255, verbose_name='worker')),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='started at')),
                ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished at')),
                ('duration_ms', models.FloatField(blank=True, null=True, verbose_name='duration (ms)')),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='django_axme.agentjob', verbose_name='job')),
            ],
            options={
                'verbose_name': 'handler run',
                'verbose_name_plural': 'handler runs',
                'ordering': ['job', 'attempt'],
                'constraints': [models.UniqueConstraint(fields=('job', 'attempt'), name='axme_handlerrun_attempt_uniq')],
            },
        ),
    ]
