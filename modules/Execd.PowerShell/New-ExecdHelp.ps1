#!/usr/bin/env pwsh
# Regenerates en-US/Execd.PowerShell.dll-Help.xml beside this script (MAML, what Get-Help reads; the build copies it
# next to the binary module, where Get-Help looks for a nested module's help) from the built module: syntax and
# parameter metadata by reflection, text from the cmdlets' XML doc comments (<summary> = synopsis,
# <remarks> = description, <example><code>/<para> = examples, property <summary> = parameter help).
# Run after changing a cmdlet:  dotnet build modules/Execd.PowerShell && dotnet pwsh modules/Execd.PowerShell/New-ExecdHelp.ps1
# The convention tests fail when a cmdlet has no synopsis, parameter help or example.
param([string]$ModuleDir = (Join-Path $PSScriptRoot 'bin/module'))
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot '../../execd.psd1') -Force
[xml]$docs = Get-Content -Raw (Join-Path $ModuleDir 'Execd.PowerShell.xml')
$members = @{}
foreach ($m in $docs.doc.members.member) { $members[$m.name] = $m }
# The XML adapter gives text-only elements as strings and mixed ones as nodes.
function Text($node) { if ($null -eq $node) { '' } else { ("$(if ($node -is [string]) { $node } else { $node.InnerText })" -replace '\s+', ' ').Trim() } }
function Esc([string]$s) { [System.Security.SecurityElement]::Escape($s) }
$common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters

function ParamXml($cmd, $p, $set) {
    $prop = $cmd.ImplementingType.GetProperty($p.Name)
    $doc = Text $members["P:$($prop.DeclaringType.FullName).$($p.Name)"].summary
    $attr = $p.ParameterSets[$set]
    if (-not $attr) { $attr = $p.ParameterSets['__AllParameterSets'] }
    if (-not $attr) { $attr = @($p.ParameterSets.Values)[0] }
    $pipe = @(); if ($attr.ValueFromPipeline) { $pipe += 'ByValue' }; if ($attr.ValueFromPipelineByPropertyName) { $pipe += 'ByPropertyName' }
    $pipeText = if ($pipe) { "True ($($pipe -join ', '))" } else { 'False' }
    $position = if ($attr.Position -ge 0) { $attr.Position } else { 'named' }
    $aliases = if ($p.Aliases.Count) { $p.Aliases -join ', ' } else { 'none' }
    $type = $p.ParameterType
    $typeName = if ($type.IsGenericType -and $type.GetGenericTypeDefinition() -eq [Nullable`1]) { $type.GetGenericArguments()[0].Name } else { $type.Name }
    $value = if ($type -eq [switch]) { '' } else { "<command:parameterValue required=`"true`" variableLength=`"false`">$typeName</command:parameterValue>" }
@"
        <command:parameter required="$($attr.IsMandatory.ToString().ToLower())" variableLength="$($type.IsArray.ToString().ToLower())" globbing="false" pipelineInput="$pipeText" position="$position" aliases="$(Esc $aliases)">
          <maml:name>$($p.Name)</maml:name>
          <maml:description><maml:para>$(Esc $doc)</maml:para></maml:description>
          $value
          <dev:type><maml:name>$($type.FullName)</maml:name><maml:uri /></dev:type>
          <dev:defaultValue>None</dev:defaultValue>
        </command:parameter>
"@
}

$items = foreach ($cmd in Get-Command -Module execd | Sort-Object Name) {
    $type = $cmd.ImplementingType
    $doc = $members["T:$($type.FullName)"]
    $syntax = foreach ($set in $cmd.ParameterSets) {
        $ps = $set.Parameters | Where-Object Name -notin $common
        "      <command:syntaxItem><maml:name>$($cmd.Name)</maml:name>`n" + (($ps | ForEach-Object { ParamXml $cmd $cmd.Parameters[$_.Name] $set.Name }) -join "`n") + "`n      </command:syntaxItem>"
    }
    $params = $cmd.Parameters.Values | Where-Object Name -notin $common | Sort-Object Name | ForEach-Object { ParamXml $cmd $_ '__AllParameterSets' }
    $outputs = $cmd.OutputType | ForEach-Object { "      <command:returnValue><dev:type><maml:name>$(Esc $_.Name)</maml:name></dev:type><maml:description><maml:para /></maml:description></command:returnValue>" }
    $i = 0
    $examples = foreach ($e in $doc.example) {
        $i++
        "      <command:example><maml:title>-------------------------- Example $i --------------------------</maml:title><dev:code>PS&gt; $(Esc (Text $e.code))</dev:code><dev:remarks><maml:para>$(Esc (Text $e.para))</maml:para></dev:remarks></command:example>"
    }
@"
  <command:command xmlns:maml="http://schemas.microsoft.com/maml/2004/10" xmlns:command="http://schemas.microsoft.com/maml/dev/command/2004/10" xmlns:dev="http://schemas.microsoft.com/maml/dev/2004/10">
    <command:details>
      <command:name>$($cmd.Name)</command:name>
      <maml:description><maml:para>$(Esc (Text $doc.summary))</maml:para></maml:description>
      <command:verb>$($cmd.Verb)</command:verb>
      <command:noun>$($cmd.Noun)</command:noun>
    </command:details>
    <maml:description><maml:para>$(Esc (Text $doc.remarks))</maml:para></maml:description>
    <command:syntax>
$($syntax -join "`n")
    </command:syntax>
    <command:parameters>
$($params -join "`n")
    </command:parameters>
    <command:returnValues>
$($outputs -join "`n")
    </command:returnValues>
    <command:examples>
$($examples -join "`n")
    </command:examples>
  </command:command>
"@
}
$xml = "<?xml version=`"1.0`" encoding=`"utf-8`"?>`n<!-- Generated by New-ExecdHelp.ps1 from the cmdlets' XML doc comments; do not edit by hand. -->`n<helpItems schema=`"maml`" xmlns=`"http://msh`">`n$($items -join "`n")`n</helpItems>`n"
[System.IO.File]::WriteAllText((Join-Path $PSScriptRoot 'en-US/Execd.PowerShell.dll-Help.xml'), $xml)
# Also the built copy, so Get-Help shows the new text before the next build.
$null = New-Item -ItemType Directory -Force (Join-Path $ModuleDir 'en-US')
[System.IO.File]::WriteAllText((Join-Path $ModuleDir 'en-US/Execd.PowerShell.dll-Help.xml'), $xml)
"wrote help for $(@($items).Count) cmdlets"
