# syntax=docker/dockerfile:1
# escape=`

FROM mcr.microsoft.com/windows/servercore
RUN dir `
    C:\ `
    /s
COPY . C:\app\
RUN echo \
